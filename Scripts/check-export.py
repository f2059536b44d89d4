#!/usr/bin/env python3
"""Loads what `equicert export` wrote into the project's PyTorch twin and compares its logits with equicert's own.

For each model: `equicert export` → state_dict + configuration; `load_state_dict(strict=True)` into the twin of
Scripts/gen-mdeq-fixtures.py (MDEQTwin with the configuration's WNORM / POST_GN_AFFINE; DEQSmallTwin for a DEQ-S);
`equicert evaluate --solver naive --outputs` on generated test images (CIFAR-10 binary format for 32x32x3 models,
IDX for 28x28x1: this machine has no CIFAR-10, and the check needs no real data); the twin then applies f from
z = 0 exactly as many times as the TSV's `steps` column says for each image (naive iteration's returned state is
f applied `steps` times) and the head. Prints the largest absolute and relative logit differences; exits 1 above
--tolerance (relative to the largest logit of the image). The twin runs in float64, equicert in float32: a few
steps (the default 4) keep the comparison about the function, not about how a non-contractive f amplifies rounding.

Optional (the project and CI never need Python). Needs: pip install torch safetensors numpy. Run from the
repository root after `swift build`:
    python3 Scripts/check-export.py [--equicert .build/debug/equicert] [--model M ...] [--weight-norm]
"""
import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import torch
from safetensors.torch import load_file

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("twin", os.path.join(HERE, "gen-mdeq-fixtures.py"))
twin = importlib.util.module_from_spec(spec)
spec.loader.exec_module(twin)
DT = torch.float64


def yaml_config(path):
    """The flat KEY: value pairs of the exported YAML (section headers dropped), values parsed as JSON."""
    out = {}
    for line in open(path):
        line = line.split("#", 1)[0]
        m = re.match(r"\s*([A-Z_0-9]+):\s*(\S.*)$", line)
        if m:
            v = m.group(2).strip()
            try:
                out[m.group(1)] = json.loads(v)
            except ValueError:
                out[m.group(1)] = v
    return out


def mdeq_twin(cfg_path):
    y = yaml_config(cfg_path)
    h, w = y["IMAGE_SIZE"]
    cfg = {"family": "mdeq", "inputHeight": h, "inputWidth": w, "inputChannels": y["INPUT_CHANNELS"], "classes": y["NUM_CLASSES"],
           "channels": y["NUM_CHANNELS"], "headChannels": y["HEAD_CHANNELS"], "finalChannels": y["FINAL_CHANSIZE"],
           "expansion": y["EXPANSION_FACTOR"], "groups": y["NUM_GROUPS"], "stemDownsamples": y["DOWNSAMPLE_TIMES"],
           "injectionConv": y["INJECTION_CONV"], "normalizationMean": y["NORMALIZATION_MEAN"],
           "normalizationStd": y["NORMALIZATION_STD"], "wnorm": y["WNORM"], "postGNAffine": y["POST_GN_AFFINE"]}
    assert y["GROUP_NORM_EPSILON"] == 1e-5 and y["BATCH_NORM_EPSILON"] == 1e-5, "the twin uses PyTorch's default ε"
    return twin.MDEQTwin(cfg), cfg


class DEQSmall(torch.nn.Module):
    """DEQSmallTwin with the project's parameter names (the exported state_dict's) and every head type."""

    def __init__(self, a):
        super().__init__()
        c, e, g = a["channels"], a["expansion"], a["groups"]
        t = twin.DEQSmallTwin(c, e, g, a["inputChannels"], a["classes"], 1, a["normalizationMean"], a["normalizationStd"])
        self.t, self.a = t, a
        self.stride = a["injectionStride"]
        sh, sw = (a["inputHeight"] - 1) // self.stride + 1, (a["inputWidth"] - 1) // self.stride + 1
        t.inject_conv.stride = (self.stride, self.stride)
        feats = {"mean-pool": c, "downsample": 2 * c, "flatten": 2 * c * ((sh - 1) // 2 + 1) * ((sw - 1) // 2 + 1)}[a["head"]]
        t.fc = torch.nn.Linear(feats, a["classes"])
        if a["head"] == "mean-pool":
            del t.head_conv, t.head_norm

    def load(self, sd):
        """The project's names (`inject.conv.weight`) → the twin's (`inject_conv.weight`), strictly."""
        names = {"inject.conv": "inject_conv", "inject.norm": "inject_norm", "block.conv1": "conv1", "block.norm1": "norm1",
                 "block.conv2": "conv2", "block.norm2": "norm2", "block.norm3": "norm3", "head.conv": "head_conv",
                 "head.norm": "head_norm", "head.fc": "fc"}
        self.t.load_state_dict({names[k.rsplit(".", 1)[0]] + "." + k.rsplit(".", 1)[1]: v for k, v in sd.items()}, strict=True)

    def head(self, z):
        if self.a["head"] == "mean-pool":
            return self.t.fc(z.mean(dim=(2, 3)))
        y = torch.relu(self.t.head_norm(self.t.head_conv(z)))
        return self.t.fc(y.mean(dim=(2, 3)) if self.a["head"] == "downsample" else torch.flatten(y, 1))


def write_images(directory, shape, count, seed):
    """Random test (and train) images in the format the model's data set reads; returns [N, H, W, c] in [0, 1]."""
    rng = np.random.default_rng(seed)
    h, w, c = shape
    pixels = rng.integers(0, 256, size=(count, h, w, c), dtype=np.uint8)
    labels = rng.integers(0, 10, size=count, dtype=np.uint8)
    if shape == [32, 32, 3]:
        rec = np.concatenate([labels[:, None], pixels.transpose(0, 3, 1, 2).reshape(count, -1)], axis=1).tobytes()
        for name in ["test_batch.bin"] + [f"data_batch_{i}.bin" for i in range(1, 6)]:
            open(os.path.join(directory, name), "wb").write(rec)
        data = "cifar10"
    elif shape == [28, 28, 1]:
        for prefix in ("t10k", "train"):
            open(os.path.join(directory, f"{prefix}-images-idx3-ubyte"), "wb").write(
                np.array([0x803, count, 28, 28], dtype=">i4").tobytes() + pixels.tobytes())
            open(os.path.join(directory, f"{prefix}-labels-idx1-ubyte"), "wb").write(
                np.array([0x801, count], dtype=">i4").tobytes() + labels.tobytes())
        data = "fashion-mnist"
    else:
        sys.exit(f"no generated data set for {shape} inputs")
    return torch.from_numpy(pixels.astype(np.float32) / 255).to(DT), data


def check(exe, model, tmp, args):
    meta = json.loads(open(model, "rb").read(8 + int.from_bytes(open(model, "rb").read(8), "little"))[8:])["__metadata__"]
    arch = json.loads(meta["equicert.architecture"])
    family = arch.get("family", "deq-s")
    base = os.path.join(tmp, os.path.basename(model).replace(".safetensors", ""))
    cmd = [exe, "export", "--model", model, "--out", base + ".export.safetensors", "--force"]
    if args.weight_norm and family == "mdeq":
        cmd.append("--weight-norm")
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    sd = load_file(base + ".export.safetensors")
    if family == "mdeq":
        net, cfg = mdeq_twin(base + ".export.yaml")
        net.load_state_dict(sd, strict=True)
        shape = [cfg["inputHeight"], cfg["inputWidth"], cfg["inputChannels"]]
    else:
        a = json.load(open(base + ".export.json"))
        net = DEQSmall(a)
        net.load(sd)
        shape = [a["inputHeight"], a["inputWidth"], a["inputChannels"]]
    net = net.to(DT).eval()
    images, data = write_images(tmp, shape, args.images, seed=1)
    tsv = base + ".outputs.tsv"
    subprocess.run([exe, "evaluate", "--model", model, "--data", data, "--data-dir", tmp, "--solver", "naive",
                    "--steps", str(args.steps), "--max", str(args.images), "--sigma", "0.25", "--outputs", tsv], check=True, stdout=subprocess.DEVNULL)
    rows = [r.split("\t") for r in open(tsv).read().split("\n")[1:] if r]
    worst_abs = worst_rel = 0.0
    with torch.no_grad():
        for r in rows:
            i, steps, want = int(r[0]), int(r[4]), torch.tensor([float(v) for v in r[5:]], dtype=DT)
            x = images[i:i + 1].permute(0, 3, 1, 2)
            if family == "mdeq":
                inj = net.inject(x)
                zs = [torch.zeros(s, dtype=DT) for s in net.shapes(1, x)]
                for _ in range(steps):
                    zs = net.f(zs, inj)
                got = net.head(zs)[0]
            else:
                inj = net.t.inject(x)
                z = torch.zeros_like(inj)
                for _ in range(steps):
                    z = net.t.f(z, inj)
                got = net.head(z)[0]
            d = (got - want).abs().max().item()
            worst_abs, worst_rel = max(worst_abs, d), max(worst_rel, d / want.abs().max().item())
    print(f"{model} ({family}{', weight norm' if args.weight_norm and family == 'mdeq' else ''}): {len(rows)} images, "
          f"max |Δlogit| {worst_abs:.3g}, max relative {worst_rel:.3g}")
    return worst_rel


def import_fixture(exe, n, tmp):
    """The twin fixture's raw state_dict with n branches → an equicert checkpoint for 32x32x3 inputs."""
    src = os.path.join(HERE, "..", "Tests", "EquilibriumTests", "Fixtures", f"mdeq-b{n}.safetensors")
    raw = {k: v for k, v in load_file(src).items() if not k.startswith("fixture.")}
    # The generated data sets have 10 classes: the fixture's 5-class classifier gets 5 more (seeded) rows.
    gen = torch.Generator().manual_seed(n)
    for k in ("classifier.weight", "classifier.bias"):
        raw[k] = torch.cat([raw[k], 0.1 * torch.randn((10 - raw[k].shape[0],) + tuple(raw[k].shape[1:]), generator=gen)])
    from safetensors.torch import save_file
    sd, out = os.path.join(tmp, f"twin-b{n}.sd.safetensors"), os.path.join(tmp, f"twin-b{n}.safetensors")
    save_file(raw, sd)
    meta = json.loads(open(src, "rb").read(8 + int.from_bytes(open(src, "rb").read(8), "little"))[8:])["__metadata__"]
    a = json.loads(meta["equicert.architecture"])
    cfg = {"NUM_BRANCHES": n, "NUM_CHANNELS": a["channels"], "HEAD_CHANNELS": a["headChannels"], "FINAL_CHANSIZE": a["finalChannels"],
           "EXPANSION_FACTOR": a["expansion"], "NUM_GROUPS": a["groups"], "DOWNSAMPLE_TIMES": a["stemDownsamples"],
           "NUM_CLASSES": 10, "IMAGE_SIZE": [32, 32]}
    json.dump(cfg, open(sd + ".json", "w"))
    subprocess.run([exe, "import", sd, "--config", sd + ".json", "-o", out], check=True, stdout=subprocess.DEVNULL)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--equicert", default=".build/debug/equicert")
    ap.add_argument("--model", nargs="+", default=["Models/mdeq-mnist32-sigma0.25.safetensors",
                                                   "Models/deq-s-fashion-mnist-sigma0.25.safetensors"])
    ap.add_argument("--weight-norm", action="store_true", help="export MDEQs with weight_g/weight_v (WNORM: true)")
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--steps", type=int, default=4,
                    help="naive steps (more steps amplify float32 rounding where f is not contractive: the random-weight "
                         "4-branch fixture's own float32 and float64 runs differ by 0.10 relative after 30)")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    ap.add_argument("--fixtures", action="store_true",
                    help="also the twin's own random MDEQs at 1-4 branches (Tests/EquilibriumTests/Fixtures/mdeq-b*, "
                         "imported at 32x32: stem downsampling, stage0, shortcuts, BatchNorms with random statistics)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    exe = os.path.abspath(args.equicert)
    with tempfile.TemporaryDirectory() as tmp:
        models = list(args.model)
        if args.fixtures:
            models += [import_fixture(exe, n, tmp) for n in (1, 2, 3, 4)]
        worst = max(check(exe, m, tmp, args) for m in models)
    sys.exit(0 if worst <= args.tolerance else 1)


if __name__ == "__main__":
    main()
