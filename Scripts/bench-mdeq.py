#!/usr/bin/env python3
"""PyTorch half of Scripts/bench-mdeq (MDEQ issue 24's benchmark); the project itself never needs Python.

    bench-mdeq.py images --out DIR [--count 32]
        DIR/test_batch.bin: `count` CIFAR-10 binary records (label byte + R, G, B planes of 32×32), seeded random
        pixels, labels 0…9 in turn. Plain Python (no torch).
    bench-mdeq.py models --out DIR
        DIR/sd-tiny.safetensors, DIR/sd-small.safetensors: raw state_dicts of the PyTorch twin `MDEQTwin`
        (Scripts/gen-mdeq-fixtures.py) at the public MDEQ-TINY and MDEQ-SMALL sizes, 32×32×3, random seeded weights;
        DIR/config-{tiny,small}.json: their configurations (for `equicert import --preset tiny|small`).
    bench-mdeq.py time --dir DIR --images FILE --model tiny|small [--batch 32] [--threads 1] [--seconds 10]
        f-evaluations/s (per image) of the twin's f(z; x̃) (weights DIR/sd-MODEL.safetensors) on the first `batch`
        images of FILE (CIFAR-10 binary; σ = 0, so x̃ = x), float32, no_grad, plain iterations z ← f(z; x̃) from
        z = 0 for `seconds` seconds (the injection is computed once, outside the timing). Prints one line:
        `rate <per-image f-evaluations/s> <calls> <seconds>`.
    bench-mdeq.py convs --config DIR/config-tiny.json
        Which of f's convolutions equicert runs on its direct kernel (`Conv2D.supportsDirect`: Co a multiple of 16,
        Ci ≥ 8, not 1×1 stride 1) and which on im2col/1×1 + GEMM, with their share of f's convolution FLOPs.
        Plain Python (no torch).
"""
import argparse
import importlib.util
import json
import os
import random
import sys
import time

SEED = {"tiny": 24, "small": 25}


def twin_module():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen-mdeq-fixtures.py")
    spec = importlib.util.spec_from_file_location("gen_mdeq_fixtures", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def preset(mod, name):
    # The same sizes as gen-mdeq-fixtures.py's presets_fixture (and equicert's --preset tiny / small).
    return {"tiny": mod.config([24, 24], [8, 16], 200),
            "small": mod.config([32, 64, 128, 256], [24, 48, 96, 192], 2048)}[name]


def build(mod, name):
    import torch
    cfg = preset(mod, name)
    torch.manual_seed(SEED[name])
    model = mod.MDEQTwin(cfg)
    mod.randomise(model, torch.Generator().manual_seed(100 + SEED[name]))
    return model.eval(), cfg


def images(args):
    rng = random.Random(7)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "test_batch.bin"), "wb") as fh:
        for r in range(args.count):
            fh.write(bytes([r % 10]) + bytes(rng.randrange(256) for _ in range(3072)))


def models(args):
    from safetensors.torch import save_file
    mod = twin_module()
    os.makedirs(args.out, exist_ok=True)
    for name in ("tiny", "small"):
        model, cfg = build(mod, name)
        sd = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        save_file(sd, os.path.join(args.out, f"sd-{name}.safetensors"))
        with open(os.path.join(args.out, f"config-{name}.json"), "w") as fh:
            json.dump(cfg, fh, indent=1, sort_keys=True)
            fh.write("\n")


def load_images(path, count):
    import torch
    data = open(path, "rb").read()
    n = min(count, len(data) // 3073)
    x = torch.tensor(list(data[:n * 3073]), dtype=torch.uint8).view(n, 3073)[:, 1:]
    return x.view(n, 3, 32, 32).to(torch.float32) / 255


def timing(args):
    import torch
    from safetensors.torch import load_file
    torch.set_num_threads(args.threads)
    mod = twin_module()
    model, cfg = build(mod, args.model)
    model.load_state_dict(load_file(os.path.join(args.dir, f"sd-{args.model}.safetensors")))
    x = load_images(args.images, args.batch)
    b = x.shape[0]
    with torch.no_grad():
        inj = model.inject(x)
        shapes = model.shapes(b, x)
        zs = [torch.zeros(s) for s in shapes]
        for _ in range(2):                          # warm-up (allocator, first-call overheads)
            zs = model.f(zs, inj)
        zs = [torch.zeros(s) for s in shapes]
        calls, start = 0, time.perf_counter()
        while True:
            zs = model.f(zs, inj)
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= args.seconds:
                break
    print(f"rate {calls * b / elapsed:.1f} {calls} {elapsed:.2f}")


def convs(args):
    cfg = json.load(open(args.config))
    ch, e, n = cfg["channels"], cfg["expansion"], len(cfg["channels"])
    size = [(cfg["inputHeight"] >> cfg["stemDownsamples"]) >> i for i in range(n)]
    rows = []                                     # (name, ci, co, k, stride, output side)
    for i, c in enumerate(ch):
        rows += [(f"branch {i} conv1", c, e * c, 3, 1, size[i]), (f"branch {i} conv2", e * c, c, 3, 1, size[i])]
    if n > 1:
        for i in range(n):
            for j in range(n):
                if j > i:
                    rows.append((f"fuse {j}→{i} (1×1)", ch[j], ch[i], 1, 1, size[j]))
                for k in range(i - j if j < i else 0):
                    rows.append((f"fuse {j}→{i} down {k + 1}", ch[j], ch[i] if k == i - j - 1 else ch[j], 3, 2, size[j + k + 1]))
            rows.append((f"post-fuse {i} (1×1)", ch[i], ch[i], 1, 1, size[i]))
    total = direct = 0
    names = []
    for name, ci, co, k, s, side in rows:
        flops = 2 * side * side * co * ci * k * k
        total += flops
        if co % 16 == 0 and ci >= 8 and not (k == 1 and s == 1):
            direct += flops
            names.append(f"{name} {ci}→{co}")
    print(f"{len(names)} of {len(rows)} convolutions of f on the direct kernel ({100 * direct / total:.0f} % of f's "
          f"convolution FLOPs){': ' + ', '.join(names) if 0 < len(names) <= 4 else ''}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("images")
    p.add_argument("--out", required=True)
    p.add_argument("--count", type=int, default=32)
    p = sub.add_parser("models")
    p.add_argument("--out", required=True)
    p = sub.add_parser("time")
    p.add_argument("--dir", required=True)
    p.add_argument("--images", required=True)
    p.add_argument("--model", choices=["tiny", "small"], required=True)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seconds", type=float, default=10)
    p = sub.add_parser("convs")
    p.add_argument("--config", required=True)
    args = ap.parse_args()
    {"images": images, "models": models, "time": timing, "convs": convs}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
