#!/usr/bin/env python3
"""Writes the fixtures that hold equicert's MDEQ and DEQ-S to PyTorch (Tests/EquilibriumTests/Fixtures/).

The MDEQ here is this project's own PyTorch twin, written from the paper (Bai, Koltun & Kolter, "Multiscale Deep
Equilibrium Models", NeurIPS 2020) and the public MDEQ-Vision configuration keys (NUM_CHANNELS, HEAD_CHANNELS,
FINAL_CHANSIZE, EXPANSION_FACTOR, NUM_GROUPS, DOWNSAMPLE_TIMES, WNORM, POST_GN_AFFINE). Its modules are named so
that its state_dict has the names of a public MDEQ-Vision classifier checkpoint: weight-normalised convolutions
(`.weight_g`, `.weight_v`), BatchNorms in the stem and head (eval mode, running statistics), non-affine
post-fusion GroupNorms. Weights are random (seeded), the reference computation runs in float64 on the float32
values stored.

For each branch count 1-4, `mdeq-b<n>.safetensors` holds the raw state_dict, the architecture JSON (metadata
`equicert.architecture`) and `fixture.*` tensors: x [B,H,W,c] channels-last, a random packed state z [B,S],
f(z; inject(x)), head(z), and the logits after `fixture.iterations` plain iterations from z = 0.
They also hold PyTorch autograd's vector-Jacobian products (`fixture.vjp.*`: f wrt state and injection, head wrt
state, injection wrt input, for random probes) and the parameter gradients both parametrisations share
(`fixture.grad.{f,head}.<name>`). `mdeq-presets.json` lists the folded parameter names and shapes of the full-size presets (TINY, original TINY,
SMALL, LARGE). `deqs-pytorch.safetensors` / `deqs-legacy.safetensors` hold one DEQ-S with a flatten head whose
linear weight is in PyTorch (c, h, w) column order resp. equicert's old (h, w, c) order.

Needs: pip install torch safetensors numpy (CPU is enough). Run from the repository root:
    python3 Scripts/gen-mdeq-fixtures.py [--out Tests/EquilibriumTests/Fixtures]
"""
import argparse
import json
import os
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

DT = torch.float64


class WNConv2d(nn.Module):
    """Conv without bias, weight-normalised along the output channel: w = g * v / ||v|| (norm over in, kh, kw)."""

    def __init__(self, cin, cout, k, stride=1, padding=0):
        super().__init__()
        self.weight_v = nn.Parameter(torch.randn(cout, cin, k, k) / (cin * k * k) ** 0.5)
        self.weight_g = nn.Parameter(torch.empty(cout, 1, 1, 1).uniform_(0.5, 1.5))
        self.stride, self.padding = stride, padding

    def forward(self, x):
        v = self.weight_v
        w = self.weight_g * v / v.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        return F.conv2d(x, w, None, self.stride, self.padding)


def conv(cin, cout, k, stride=1, bias=False):
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=bias)


def bn(c, affine=True):
    return nn.BatchNorm2d(c, affine=affine)


class Block(nn.Module):
    """Branch residual block: GN3(ReLU(GN2(conv2(ReLU(GN1(conv1 z)))) + x_inj) + z))."""

    def __init__(self, c, expansion, groups, wnorm=True):
        super().__init__()
        wn = WNConv2d if wnorm else (lambda cin, cout, k, padding: nn.Conv2d(cin, cout, k, padding=padding, bias=False))
        self.conv1 = wn(c, expansion * c, 3, padding=1)
        self.gn1 = nn.GroupNorm(groups, expansion * c)
        self.conv2 = wn(expansion * c, c, 3, padding=1)
        self.gn2 = nn.GroupNorm(groups, c)
        self.gn3 = nn.GroupNorm(groups, c)

    def forward(self, z, injection=None):
        out = self.conv2(F.relu(self.gn1(self.conv1(z))))
        if injection is not None:
            out = out + injection
        return self.gn3(F.relu(self.gn2(out) + z))


class Branch(nn.Module):
    def __init__(self, c, expansion, groups, wnorm=True):
        super().__init__()
        self.blocks = nn.ModuleList([Block(c, expansion, groups, wnorm)])

    def forward(self, z, injection=None):
        return self.blocks[0](z, injection)


class Up(nn.Module):
    """Branch j -> i < j: 1x1 conv, GroupNorm, nearest upsampling by 2^(j-i)."""

    def __init__(self, cin, cout, groups, factor):
        super().__init__()
        self.net = nn.Sequential(OrderedDict([("conv", nn.Conv2d(cin, cout, 1, bias=False)),
                                              ("gnorm", nn.GroupNorm(groups, cout)),
                                              ("upsample", nn.Upsample(scale_factor=factor, mode="nearest"))]))

    def forward(self, x):
        return self.net(x)


class Down(nn.Module):
    """Branch j -> i > j: i-j stride-2 3x3 convs with GroupNorm, ReLU between them; channels cj ... cj, ci."""

    def __init__(self, cin, cout, groups, steps):
        super().__init__()
        layers = []
        for k in range(steps):
            out = cout if k == steps - 1 else cin
            parts = [("conv", nn.Conv2d(cin, out, 3, stride=2, padding=1, bias=False)), ("gnorm", nn.GroupNorm(groups, out))]
            if k < steps - 1:
                parts.append(("relu", nn.ReLU()))
            layers.append(nn.Sequential(OrderedDict(parts)))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class Fullstage(nn.Module):
    """f: per-branch blocks, then fusion u_i = ReLU(sum_j T_ij(y_j)) and GN_{G/2}(conv1x1(u_i)).

    cfg["wnorm"] (default True, the public WNORM) weight-normalises the block and post-fusion convolutions;
    cfg["postGNAffine"] (default False, the public POST_GN_AFFINE) gives the post-fusion GroupNorms affine tensors."""

    def __init__(self, cfg):
        super().__init__()
        ch, g, n = cfg["channels"], cfg["groups"], len(cfg["channels"])
        wnorm, post_affine = cfg.get("wnorm", True), cfg.get("postGNAffine", False)
        self.n = n
        self.branches = nn.ModuleList([Branch(c, cfg["expansion"], g, wnorm) for c in ch])
        if n > 1:
            self.fuse_layers = nn.ModuleList([nn.ModuleList([
                nn.Identity() if i == j else (Up(ch[j], ch[i], g, 2 ** (j - i)) if j > i else Down(ch[j], ch[i], g, i - j))
                for j in range(n)]) for i in range(n)])
            self.post_fuse_layers = nn.ModuleList([nn.Sequential(OrderedDict([
                ("relu", nn.ReLU()), ("conv", WNConv2d(c, c, 1) if wnorm else nn.Conv2d(c, c, 1, bias=False)),
                ("gnorm", nn.GroupNorm(g // 2, c, affine=post_affine))]))
                for c in ch])

    def forward(self, zs, injection):
        ys = [self.branches[i](zs[i], injection if i == 0 else None) for i in range(self.n)]
        if self.n == 1:
            return ys
        return [self.post_fuse_layers[i](sum(self.fuse_layers[i][j](ys[j]) for j in range(self.n))) for i in range(self.n)]


class Bottleneck(nn.Module):
    """Head bottleneck (BatchNorms without affine, as in MDEQ's head): ReLU(main(x) + shortcut(x)), 4x channels."""

    def __init__(self, cin, planes):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = bn(planes, affine=False)
        self.conv2 = conv(planes, planes, 3)
        self.bn2 = bn(planes, affine=False)
        self.conv3 = nn.Conv2d(planes, 4 * planes, 1, bias=False)
        self.bn3 = bn(4 * planes, affine=False)
        self.downsample = None
        if cin != 4 * planes:
            self.downsample = nn.Sequential(nn.Conv2d(cin, 4 * planes, 1, bias=False), bn(4 * planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (self.downsample(x) if self.downsample is not None else x))


class MDEQTwin(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        ch, n, c0, d = cfg["channels"], len(cfg["channels"]), cfg["channels"][0], cfg["stemDownsamples"]
        self.downsample = nn.Sequential(conv(cfg["inputChannels"], c0, 3, stride=2 if d >= 1 else 1), bn(c0), nn.ReLU(),
                                        conv(c0, c0, 3, stride=2 if d >= 2 else 1), bn(c0), nn.ReLU())
        self.stage0 = nn.Sequential(nn.Conv2d(c0, c0, 1, bias=False), bn(c0), nn.ReLU()) if cfg["injectionConv"] else None
        self.fullstage = Fullstage(cfg)
        hc = cfg["headChannels"]
        self.incre_modules = nn.ModuleList([nn.Sequential(Bottleneck(ch[i], hc[i])) for i in range(n)])
        self.downsamp_modules = nn.ModuleList([nn.Sequential(conv(4 * hc[i], 4 * hc[i + 1], 3, stride=2, bias=True),
                                                             bn(4 * hc[i + 1]), nn.ReLU()) for i in range(n - 1)])
        self.final_layer = nn.Sequential(nn.Conv2d(4 * hc[-1], cfg["finalChannels"], 1), bn(cfg["finalChannels"]), nn.ReLU())
        self.classifier = nn.Linear(cfg["finalChannels"], cfg["classes"])

    def inject(self, x):
        """x [B, c, H, W] in [0, 1] -> injection of branch 0."""
        mean = torch.tensor(self.cfg["normalizationMean"], dtype=x.dtype).view(1, -1, 1, 1)
        std = torch.tensor(self.cfg["normalizationStd"], dtype=x.dtype).view(1, -1, 1, 1)
        h = self.downsample((x - mean) / std)
        return self.stage0(h) if self.stage0 is not None else h

    def f(self, zs, injection):
        return self.fullstage(zs, injection)

    def head(self, zs):
        y = self.incre_modules[0](zs[0])
        for i in range(len(self.downsamp_modules)):
            y = self.incre_modules[i + 1](zs[i + 1]) + self.downsamp_modules[i](y)
        y = self.final_layer(y)
        return self.classifier(y.mean(dim=(2, 3)))

    def shapes(self, b, x):
        """Branch shapes [B, C_i, h_i, w_i] for an input x."""
        h0 = self.inject(x)
        return [(b, c, h0.shape[2] >> i, h0.shape[3] >> i) for i, c in enumerate(self.cfg["channels"])]


def randomise(model, gen):
    """Non-trivial affine and running statistics everywhere (so every fold is exercised)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                if getattr(m, "weight", None) is not None:
                    m.weight.uniform_(0.6, 1.4, generator=gen)
                    m.bias.uniform_(-0.2, 0.2, generator=gen)
                if isinstance(m, nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.2, 0.2, generator=gen)
                    m.running_var.uniform_(0.5, 1.5, generator=gen)


def pack(zs):
    """Branches [B, C, h, w] -> equicert's packed state [B, S]: branch 0 first, each in (h, w, c) order."""
    return torch.cat([z.permute(0, 2, 3, 1).reshape(z.shape[0], -1) for z in zs], dim=1)


def unpack(z, shapes):
    out, off = [], 0
    for (b, c, h, w) in shapes:
        n = c * h * w
        out.append(z[:, off:off + n].reshape(b, h, w, c).permute(0, 3, 1, 2))
        off += n
    return out


def nhwc(t):
    return t.permute(0, 2, 3, 1).contiguous()


def fold_state_dict(sd, model):
    """The converter: a raw MDEQ-Vision state_dict -> equicert's parameter names (weight norm and eval-mode
    BatchNorm folded into the convolution before them, non-affine GroupNorms given weight 1, bias 0)."""
    sd = {k: v.to(DT) for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    out = {}
    for k in list(sd):
        if k.endswith(".weight_g"):
            base, g, v = k[:-2], sd.pop(k), sd.pop(k[:-2] + "_v")
            out[base] = g * v / v.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    out.update(sd)
    pairs = [("downsample.0", "downsample.1"), ("downsample.3", "downsample.4")]
    if model.stage0 is not None:
        pairs.append(("stage0.0", "stage0.1"))
    for i, m in enumerate(model.incre_modules):
        p = f"incre_modules.{i}.0"
        pairs += [(f"{p}.conv1", f"{p}.bn1"), (f"{p}.conv2", f"{p}.bn2"), (f"{p}.conv3", f"{p}.bn3")]
        if m[0].downsample is not None:
            pairs.append((f"{p}.downsample.0", f"{p}.downsample.1"))
    pairs += [(f"downsamp_modules.{i}.0", f"downsamp_modules.{i}.1") for i in range(len(model.downsamp_modules))]
    pairs.append(("final_layer.0", "final_layer.1"))
    for c, b in pairs:
        w = out.pop(c + ".weight")
        s = out.pop(b + ".weight", torch.ones(w.shape[0], dtype=DT)) / (out.pop(b + ".running_var") + 1e-5).sqrt()
        bias = out.pop(c + ".bias", torch.zeros(w.shape[0], dtype=DT))
        out[c + ".weight"] = w * s.view(-1, 1, 1, 1)
        out[c + ".bias"] = s * (bias - out.pop(b + ".running_mean")) + out.pop(b + ".bias", torch.zeros(w.shape[0], dtype=DT))
    for name, m in model.named_modules():
        if isinstance(m, nn.GroupNorm) and not m.affine:
            out[name + ".weight"] = torch.ones(m.num_channels, dtype=DT)
            out[name + ".bias"] = torch.zeros(m.num_channels, dtype=DT)
    return out


def config(channels, head, final, inp=(32, 32, 3), classes=10, expansion=5, groups=8, stem=0):
    h, w, c = inp
    return {"family": "mdeq", "inputHeight": h, "inputWidth": w, "inputChannels": c, "classes": classes,
            "channels": channels, "headChannels": head, "finalChannels": final, "expansion": expansion,
            "groups": groups, "stemDownsamples": stem, "injectionConv": not (stem == 0 and len(channels) <= 2),
            "normalizationMean": [0.4914, 0.4822, 0.4465][:c] if c == 3 else [0.5] * c,
            "normalizationStd": [0.2023, 0.1994, 0.2010][:c] if c == 3 else [0.5] * c, "epsilon": 1e-5}


def f32(sd):
    return {k: v.detach().to(torch.float32).contiguous() for k, v in sd.items()}


def mdeq_fixture(n, out_dir, iterations=4):
    # Small test sizes (the fixture stays a few tens of KB); branch 2's bottleneck needs no shortcut (8 = 4*2).
    channels, head = [4, 8, 8, 8][:n], [2, 4, 2, 2][:n]
    stem = 1 if n == 3 else 0
    cfg = config(channels, head, 16, inp=(16, 16, 3), classes=5, expansion=2, groups=2, stem=stem)
    gen = torch.Generator().manual_seed(100 + n)
    torch.manual_seed(200 + n)
    model = MDEQTwin(cfg)
    randomise(model, gen)
    model.eval()
    raw = f32(model.state_dict())          # what a user's checkpoint holds (float32)
    model.load_state_dict(raw)
    model = model.to(DT)
    b = 2
    x = torch.rand(b, 3, 16, 16, generator=gen).to(torch.float32).to(DT)
    with torch.no_grad():
        inj = model.inject(x)
        shapes = model.shapes(b, x)
        z = torch.randn(b, sum(s[1] * s[2] * s[3] for s in shapes), generator=gen).to(torch.float32).to(DT)
        fz = pack(model.f(unpack(z, shapes), inj))
        head_z = model.head(unpack(z, shapes))
        zk = [torch.zeros(s, dtype=DT) for s in shapes]
        for _ in range(iterations):
            zk = model.f(zk, inj)
        logits = model.head(zk)
    tensors = dict(raw)
    tensors.update({"fixture.x": nhwc(x), "fixture.injection": nhwc(inj), "fixture.z": z, "fixture.f": fz,
                    "fixture.head": head_z, "fixture.logits": logits})
    tensors.update(vector_jacobian_products(model, x, inj, z, shapes, gen))
    meta = {"equicert.architecture": json.dumps(cfg, sort_keys=True), "fixture.iterations": str(iterations)}
    path = os.path.join(out_dir, f"mdeq-b{n}.safetensors")
    save_file(f32(tensors), path, metadata=meta)
    return path


def vector_jacobian_products(model, x, inj, z, shapes, gen):
    """Autograd (float64) VJPs of <r, out> for random r: f wrt the packed state and the injection, the head wrt the
    state, the injection wrt the input x; and the parameter gradients that equicert's parametrisation shares with
    PyTorch's (GroupNorm affines, fusion convolutions, the classifier: neither weight-normalised nor BatchNorm-folded)."""
    def rand(shape):
        return torch.randn(shape, generator=gen).to(torch.float32).to(DT)

    def shared(prefix):
        return {f"fixture.grad.{prefix}.{k}": p.grad.clone() for k, p in model.named_parameters()
                if p.grad is not None and not k.endswith(("weight_g", "weight_v")) and k.startswith(("fullstage", "classifier"))}

    out = {}
    zs = [t.clone().requires_grad_(True) for t in unpack(z, shapes)]
    il = inj.clone().requires_grad_(True)
    model.zero_grad()
    fz = pack(model.f(zs, il))
    r = rand(fz.shape)
    (fz * r).sum().backward()
    out.update({"fixture.vjp.f.r": r, "fixture.vjp.f.state": pack([t.grad for t in zs]), "fixture.vjp.f.injection": nhwc(il.grad)})
    out.update(shared("f"))
    zs = [t.clone().requires_grad_(True) for t in unpack(z, shapes)]
    model.zero_grad()
    lg = model.head(zs)
    r = rand(lg.shape)
    (lg * r).sum().backward()
    out.update({"fixture.vjp.head.r": r, "fixture.vjp.head.state": pack([t.grad for t in zs])})
    out.update(shared("head"))
    xl = x.clone().requires_grad_(True)
    h = model.inject(xl)
    r = rand(h.shape)
    (h * r).sum().backward()
    out.update({"fixture.vjp.inject.r": nhwc(r), "fixture.vjp.inject.input": nhwc(xl.grad)})
    model.zero_grad()
    return out


def presets_fixture(out_dir):
    presets = {
        "tiny": config([24, 24], [8, 16], 200),
        "tiny-original": config([8, 16, 32], [4, 8, 16], 128),
        "small": config([32, 64, 128, 256], [24, 48, 96, 192], 2048),
        "large": config([32, 64, 128, 256], [14, 28, 56, 112], 1680),
    }
    out = {}
    for name, cfg in presets.items():
        model = MDEQTwin(cfg).eval()
        folded = fold_state_dict(model.state_dict(), model)
        out[name] = {"configuration": cfg, "parameters": {k: list(v.shape) for k, v in sorted(folded.items())},
                     "count": sum(v.numel() for v in folded.values())}
    path = os.path.join(out_dir, "mdeq-presets.json")
    with open(path, "w") as fh:
        json.dump(out, fh, indent=1, sort_keys=True)
        fh.write("\n")
    return path


class DEQSmallTwin(nn.Module):
    """DEQ-S (docs/deq.md) with the flatten head, PyTorch layout throughout."""

    def __init__(self, c, e, g, cin, classes, state_hw, mean, std):
        super().__init__()
        self.mean, self.std = mean, std
        self.inject_conv = nn.Conv2d(cin, c, 3, stride=2, padding=1, bias=False)
        self.inject_norm = nn.GroupNorm(g, c)
        self.conv1 = nn.Conv2d(c, e * c, 3, padding=1, bias=False)
        self.norm1 = nn.GroupNorm(g, e * c)
        self.conv2 = nn.Conv2d(e * c, c, 3, padding=1, bias=False)
        self.norm2 = nn.GroupNorm(g, c)
        self.norm3 = nn.GroupNorm(g, c)
        self.head_conv = nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=False)
        self.head_norm = nn.GroupNorm(g, 2 * c)
        h = (state_hw - 1) // 2 + 1
        self.fc = nn.Linear(2 * c * h * h, classes)

    def inject(self, x):
        return F.relu(self.inject_norm(self.inject_conv((x - self.mean) / self.std)))

    def f(self, z, inj):
        return self.norm3(F.relu(z + self.norm2(self.conv2(F.relu(self.norm1(self.conv1(z))))) + inj))

    def head(self, z):
        return self.fc(torch.flatten(F.relu(self.head_norm(self.head_conv(z))), 1))   # PyTorch (c, h, w) order

    def equicert_state_dict(self):
        names = {"inject_conv": "inject.conv", "inject_norm": "inject.norm", "conv1": "block.conv1", "norm1": "block.norm1",
                 "conv2": "block.conv2", "norm2": "block.norm2", "norm3": "block.norm3", "head_conv": "head.conv",
                 "head_norm": "head.norm", "fc": "head.fc"}
        return {names[k.split(".")[0]] + "." + k.split(".")[1]: v for k, v in self.state_dict().items()}


def deqs_fixture(out_dir, iterations=4):
    gen = torch.Generator().manual_seed(300)
    torch.manual_seed(301)
    c, e, g, size, classes, mean, std = 4, 2, 2, 8, 3, 0.3, 0.4
    model = DEQSmallTwin(c, e, g, 1, classes, (size - 1) // 2 + 1, mean, std)
    randomise(model, gen)
    sd = f32(model.equicert_state_dict())
    model.load_state_dict(f32(model.state_dict()))
    model = model.to(DT).eval()
    b = 2
    x = torch.rand(b, 1, size, size, generator=gen).to(torch.float32).to(DT)
    with torch.no_grad():
        inj = model.inject(x)
        z = torch.randn(inj.shape, generator=gen).to(torch.float32).to(DT)
        fz, head_z = model.f(z, inj), model.head(z)
        zk = torch.zeros_like(inj)
        for _ in range(iterations):
            zk = model.f(zk, inj)
        logits = model.head(zk)
    fixture = {"fixture.x": nhwc(x), "fixture.z": nhwc(z), "fixture.f": nhwc(fz), "fixture.head": head_z,
               "fixture.logits": logits}
    arch = {"channels": c, "classes": classes, "epsilon": 1e-5, "expansion": e, "family": "deq-s", "groups": g,
            "head": "flatten", "injectionStride": 2, "inputChannels": 1, "inputHeight": size, "inputWidth": size,
            "normalizationMean": mean, "normalizationStd": std}
    paths = []
    # PyTorch order, flagged; and the same model as equicert's older checkpoints stored it: columns in (h, w, c)
    # order and no flag in the architecture.
    w = sd["head.fc.weight"]
    hh = (((size - 1) // 2 + 1) - 1) // 2 + 1
    legacy_w = w.view(classes, 2 * c, hh, hh).permute(0, 2, 3, 1).reshape(classes, -1).contiguous()
    for name, weight, extra in [("deqs-pytorch", w, {"flattenOrder": "chw"}), ("deqs-legacy", legacy_w, {})]:
        tensors = dict(sd)
        tensors["head.fc.weight"] = weight
        tensors.update(fixture)
        meta = {"equicert.architecture": json.dumps({**arch, **extra}, sort_keys=True), "fixture.iterations": str(iterations)}
        path = os.path.join(out_dir, name + ".safetensors")
        save_file(f32(tensors), path, metadata=meta)
        paths.append(path)
    return paths


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="Tests/EquilibriumTests/Fixtures")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    paths = [mdeq_fixture(n, args.out) for n in (1, 2, 3, 4)] + [presets_fixture(args.out)] + deqs_fixture(args.out)
    for p in paths:
        print(f"{p}: {os.path.getsize(p)} bytes")


if __name__ == "__main__":
    main()
