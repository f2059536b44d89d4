#!/usr/bin/env python3
"""PyTorch CPU port of equicert's SRS certify loop for DEQ-S: a benchmark baseline for issue 23 only.

Nothing in equicert, its tests or CI needs Python; this script exists so that BENCHMARKS.md can compare
`equicert certify --mode srs --solver anderson --steps 1` with what a competent PyTorch port of the same algorithm
achieves on the same machine. It is written from the project's own documents and Swift sources:
docs/models.md §1 (DEQ-S), docs/certificate.md, ../shared/docs/srs.md, Sources/Equilibrium/{DEQSmall,
AndersonAcceleration,Solver,SolverSampleTracker}.swift and Sources/Certification/{Smoothing,SmoothingPhase,
ChainLayout,Audit}.swift.

Per image, exactly like
    equicert certify --mode srs --solver anderson --steps 1 --audit 400 --base-solver anderson --base-max-steps 30
                     --base-tolerance 1e-3 --n0 100 --n 10000 --sigma 0.25 --alpha 0.001   (warm-up: Anderson 10)
1. selection: n0 noisy copies, each solved from zero by the base classifier (Anderson, ≤ 30 steps, stop a sample
   at relative residual < 1e-3), ĉA = the most frequent class (lowest index on ties);
2. estimation: 400 chains × 25 steps; step 0 of a chain is solved from zero by Anderson-10 (12 evaluations), step
   t ≥ 1 by Anderson-1 (3 evaluations) warm-started from the state step t − 1 returned; fresh noise every step;
3. audit: 400 estimation positions drawn uniformly without replacement, re-solved from zero by the base classifier;
4. the audit certificate (docs/certificate.md §4, one planned stage): hypergeometric bound on the disagreements at
   α/4, Clopper–Pearson on N_A − D̄ at α/2 and on the audited base classes alone at α/4, best of the two.

Cost accounting is equicert's (its manifest's `sampleEvaluations`): every solver call on a batch of B costs
(f-evaluations of that call) × B, where a call evaluates f on the whole batch until every sample is frozen
(converged or diverged) or the step budget is spent; frozen samples are fed their returned value, as in equicert.

Differences that do not change the algorithm: the noise is torch's own generator (not equicert's Philox stream),
so per-image counts and classes agree statistically, not bit for bit; the Anderson Gram rows are float32 dot
products (equicert accumulates them in double; the small bordered systems are solved in double in both);
residuals are not measured in solves without a tolerance (equicert measures them for its statistics; nothing
depends on them there but the divergence flag). Both favour PyTorch slightly.

--batch 50 reproduces equicert's chain blocks (every batch is 50 chains/samples). --batch 400 is what a PyTorch user
would write (the released SRS code's B = 400): all 400 chains of a phase in one batch, selection's 100 and the
audit's 400 from-zero solves each in one batch. A from-zero solve with a tolerance then runs until its slowest
sample converges, so the evaluation count differs slightly from equicert's.

Needs torch (2.x), numpy, scipy (the safetensors file is parsed directly). From the repository root:
    python3 Scripts/bench-pytorch-srs.py [--images 3] [--threads 1,2] [--batch 50,400]
Prints one line per (threads, batch, image) — class, N_A, f-evaluations × samples (total and per phase), wall and
CPU seconds — and a summary of f-evaluations × samples per second by wall and by CPU time. Compare with
equicert's manifest (`images[].sampleEvaluations`, `computeSeconds`) for the same images (--skip 20 --max N).

Measuring: on a machine shared with other jobs, wall time says little; at 1 thread the CPU-time rate is the better
estimate of an idle machine's wall rate, but it still varies with what the neighbours do (SMT siblings, memory),
so alternate runs of this script and of equicert and compare like with like. At 2 threads on a busy machine, run
with OMP_WAIT_POLICY=PASSIVE: libgomp's spinning threads otherwise burn ~10× the CPU time (measured) for nothing.
PyTorch's convolutions (oneDNN) use AVX-512 where the CPU has it; for the same instruction set as an equicert build
with -target-cpu haswell, run with ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 (and report which was used).
"""
import argparse
import gzip
import json
import math
import os
import resource
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats


# ---------------------------------------------------------------------------------------------------------------
# Checkpoint and data

def load_safetensors(path):
    """(tensors by name as float32 torch tensors, metadata dict). The format: u64 header length, JSON header, data."""
    with open(path, "rb") as fh:
        raw = fh.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, info in header.items():
        if info["dtype"] != "F32":
            continue
        a, b = info["data_offsets"]
        arr = np.frombuffer(raw, dtype="<f4", count=(b - a) // 4, offset=base + a).reshape(info["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out, meta


def find_data(name, explicit):
    candidates = [explicit] if explicit else []
    if os.environ.get("EQUICERT_DATA"):
        candidates.append(os.path.join(os.environ["EQUICERT_DATA"], name))
    here = os.path.dirname(os.path.abspath(__file__))
    for root in (os.getcwd(), os.path.dirname(here)):
        candidates += [os.path.join(root, "..", "shared", "data", name), os.path.join(root, "data", name)]
    for c in candidates:
        if c and os.path.exists(os.path.join(c, "t10k-images-idx3-ubyte.gz")):
            return c
    sys.exit(f"no {name} test set found (tried {candidates}); run Scripts/setup --only {name} or pass --data-dir")


def read_idx(path):
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    (magic,) = struct.unpack(">I", raw[:4])
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, raw[4:4 + 4 * dims])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


# ---------------------------------------------------------------------------------------------------------------
# DEQ-S (docs/models.md §1), NCHW; the checkpoint's weights are in PyTorch layout already

class DEQS:
    def __init__(self, tensors, arch):
        assert arch.get("family", "deq-s") == "deq-s" and arch["head"] == "flatten", arch
        self.t = tensors
        self.g = arch["groups"]
        self.eps = arch["epsilon"]
        self.mean, self.std = arch["normalizationMean"], arch["normalizationStd"]
        self.stride = arch["injectionStride"]
        c = arch["channels"]
        hw = (arch["inputHeight"] - 1) // self.stride + 1
        self.state = (c, hw, hw)
        h = (hw - 1) // 2 + 1
        w = tensors["head.fc.weight"]
        if arch.get("flattenOrder", "hwc") == "hwc":  # older checkpoints: columns in (h, w, c) order
            w = w.view(w.shape[0], h, h, 2 * c).permute(0, 3, 1, 2).reshape(w.shape[0], -1).contiguous()
        self.fc_w = w

    def gn(self, x, name):
        return F.group_norm(x, self.g, self.t[name + ".weight"], self.t[name + ".bias"], self.eps)

    def inject(self, x):
        t = self.t
        a = F.conv2d((x - self.mean) / self.std, t["inject.conv.weight"], None, self.stride, 1)
        return F.relu(self.gn(a, "inject.norm"))

    def f(self, z, inj):
        t = self.t
        r1 = F.relu(self.gn(F.conv2d(z, t["block.conv1.weight"], None, 1, 1), "block.norm1"))
        a2 = self.gn(F.conv2d(r1, t["block.conv2.weight"], None, 1, 1), "block.norm2")
        return self.gn(F.relu(z + a2 + inj), "block.norm3")

    def head(self, z):
        t = self.t
        h = F.relu(self.gn(F.conv2d(z, t["head.conv.weight"], None, 2, 1), "head.norm"))
        return F.linear(torch.flatten(h, 1), self.fc_w, t["head.fc.bias"])


# ---------------------------------------------------------------------------------------------------------------
# Anderson acceleration, batched with per-sample freezing (Sources/Equilibrium/AndersonAcceleration.swift)

def anderson(f, z0, max_steps, tol, m=6, lam=1e-4, divergence=1e6):
    """Returns (z, evaluations): z per sample the f output at its last measured evaluation (its convergence, or the
    last one); evaluations = calls of f on the whole batch (equicert's `stats.evaluations`)."""
    B = z0.shape[0]
    track = tol > 0
    evals = 0
    running = torch.ones(B, dtype=torch.bool)
    result = None

    def record(x, fx):
        """Measure running samples, update their returned value, freeze converged/diverged ones."""
        nonlocal result, running
        if not track:
            result = fx
            return
        d = (fx - x).flatten(1).double().norm(dim=1)
        nf = fx.flatten(1).double().norm(dim=1)
        rel = d / (nf + 1e-8)
        if result is None:
            result = fx.clone()
        else:
            result = torch.where(running.view(-1, 1, 1, 1), fx, result)
        bad = ~torch.isfinite(d) | ~torch.isfinite(rel) | (d > divergence)
        done = bad | (rel < tol)
        running = running & ~done

    def feed(x_new):
        """Running samples take x_new, frozen ones their returned value (zeros if not finite)."""
        if not track or bool(running.all()):
            return x_new
        frozen_value = torch.where(torch.isfinite(result), result, torch.zeros_like(result))
        return torch.where(running.view(-1, 1, 1, 1), x_new, frozen_value)

    D = z0[0].numel()
    Fh = torch.empty(B, m, D)
    Gh = torch.empty(B, m, D)
    H = torch.zeros(B, m, m, dtype=torch.float64)

    def store(it, x, fx):
        slot, valid = it % m, min(it + 1, m)
        fxf = fx.reshape(B, D)
        Fh[:, slot] = fxf
        Gh[:, slot] = fxf - x.reshape(B, D)
        dots = torch.bmm(Gh[:, :valid], Gh[:, slot].unsqueeze(2)).squeeze(2).double()
        H[:, slot, :valid] = dots
        H[:, :valid, slot] = dots

    x = z0
    fx = f(x); evals += 1
    record(x, fx)
    if not bool(running.any()):
        return result, evals
    store(0, x, fx)
    x = feed(fx)
    fx = f(x); evals += 1
    record(x, fx)
    if not bool(running.any()):
        return result, evals
    store(1, x, fx)
    for step in range(1, max_steps + 1):
        it = step + 1
        n = min(it, m)
        newest = (it - 1) % m
        A = torch.zeros(B, n + 1, n + 1, dtype=torch.float64)
        A[:, 0, 1:] = 1
        A[:, 1:, 0] = 1
        A[:, 1:, 1:] = H[:, :n, :n] + lam * torch.eye(n, dtype=torch.float64)
        rhs = torch.zeros(B, n + 1, 1, dtype=torch.float64)
        rhs[:, 0] = 1
        sol, info = torch.linalg.solve_ex(A, rhs)
        a = sol[:, 1:, 0]
        ok = (info == 0) & torch.isfinite(a).all(dim=1)
        if not bool(ok.all()):
            onehot = torch.zeros_like(a)
            onehot[:, newest] = 1
            a = torch.where(ok.view(-1, 1), a, onehot)
        x_new = torch.bmm(a.float().unsqueeze(1), Fh[:, :n]).view_as(z0)  # β = 1: X = Σ aᵢFᵢ
        x = feed(x_new)
        fx = f(x); evals += 1
        record(x, fx)
        if not bool(running.any()):
            break
        if step < max_steps:
            store(it, x, fx)
    return result, evals


# ---------------------------------------------------------------------------------------------------------------
# Statistics (Sources/Statistics, Sources/Certification/Audit.swift)

def cp_lower(k, n, alpha):
    if k <= 0:
        return 0.0
    return float(stats.beta.ppf(alpha, k, n - k + 1))


def hypergeom_upper(x, population, draws, alpha):
    """Largest D′ with P(Hypergeom(population, D′, draws) ≤ x) > alpha (bisection, as equicert)."""
    def cdf(marked):
        return stats.hypergeom.cdf(x, population, marked, draws)
    lo, hi = x, population - draws + x
    if cdf(hi) > alpha:
        return hi
    while hi - lo > 1:
        mid = lo + (hi - lo) // 2
        if cdf(mid) > alpha:
            lo = mid
        else:
            hi = mid
    return lo


def audit_certificate(cA, n, nA, draws, disagreements, base_agreements, sigma, alpha):
    d_bar = hypergeom_upper(disagreements, n, draws, alpha / 4)
    p = max(cp_lower(max(0, nA - d_bar), n, alpha / 2), cp_lower(base_agreements, draws, alpha / 4))
    if not (p >= 0.5 and math.isfinite(p)):
        return -1, 0.0
    return cA, sigma * float(stats.norm.ppf(p))


# ---------------------------------------------------------------------------------------------------------------
# Certify one image

class Settings:
    sigma = 0.25
    n0 = 100
    n = 10_000
    alpha = 0.001
    chains = 400
    audit = 400
    base = dict(max_steps=30, tol=1e-3)       # --base-solver anderson --base-max-steps 30 --base-tolerance 1e-3
    warmup = dict(max_steps=10, tol=0.0)      # --warmup-steps 10 (default), --tolerance 0 (default)
    serial = dict(max_steps=1, tol=0.0)       # --solver anderson --steps 1


def classify(model, x, start, solver):
    inj = model.inject(x)
    z0 = start if start is not None else torch.zeros((x.shape[0],) + model.state)
    z, evals = anderson(lambda z: model.f(z, inj), z0, **solver)
    return model.head(z).argmax(dim=1), z, evals


def certify(model, image, gen, s, batch):
    """image: [1, 28, 28] in [0, 1]. Returns (prediction, radius, ĉA, N_A, sample evaluations, (selection,
    estimation, audit) sample evaluations, wall seconds, CPU seconds of this process)."""
    wall0, cpu0 = time.perf_counter(), cpu_seconds()
    classes = model.fc_w.shape[0]
    sample_evals = 0

    def noisy(count):
        return image.unsqueeze(0) + s.sigma * torch.randn((count,) + tuple(image.shape), generator=gen)

    # Selection: n0 from-zero base-classifier solves, in batches of min(batch, n0) (equicert: blocks of 50).
    sel = torch.zeros(classes, dtype=torch.long)
    for lo in range(0, s.n0, batch):
        b = min(batch, s.n0 - lo)
        pred, _, e = classify(model, noisy(b), None, s.base)
        sel += torch.bincount(pred, minlength=classes)
        sample_evals += e * b
    selection_evals = sample_evals
    cA = int(torch.argmax(sel))  # first maximum, like SampleCounts.topClass

    # Audit positions: the first K of a uniform permutation of the n estimation samples (chain-major indices);
    # drawn before the estimation (they depend on nothing) so that each audited noisy input is kept when drawn.
    L = s.n // s.chains  # every chain has length n / chains here (10,000 / 400 = 25)
    assert L * s.chains == s.n
    positions = torch.randperm(s.n, generator=gen)[:s.audit]
    audit_at = {}  # (chain, step) -> audit order
    for j, i in enumerate(positions.tolist()):
        audit_at[(i // L, i % L)] = j
    audited_x = torch.empty((s.audit,) + tuple(image.shape))

    # Estimation: blocks of `batch` chains; step 0 warm-up from zero, steps ≥ 1 Anderson-1 from the previous state.
    serialized = torch.empty(s.chains, L, dtype=torch.long)  # M: chain-major serialized classes
    for c0 in range(0, s.chains, batch):
        b = min(batch, s.chains - c0)
        z = None
        for t in range(L):
            x = noisy(b)
            for j in range(b):
                k = audit_at.get((c0 + j, t))
                if k is not None:
                    audited_x[k] = x[j]
            pred, z, e = classify(model, x, z, s.warmup if t == 0 else s.serial)
            serialized[c0:c0 + b, t] = pred
            sample_evals += e * b
    serialized = serialized.flatten()
    estimation_evals = sample_evals - selection_evals
    nA = int((serialized == cA).sum())

    # Audit: the base classifier from zero on the audited inputs.
    base = torch.empty(s.audit, dtype=torch.long)
    for lo in range(0, s.audit, batch):
        b = min(batch, s.audit - lo)
        pred, _, e = classify(model, audited_x[lo:lo + b], None, s.base)
        base[lo:lo + b] = pred
        sample_evals += e * b
    m_at = serialized[positions]
    base_agree = int((base == cA).sum())
    disagree = int(((base != cA) & (m_at == cA)).sum())
    pred, radius = audit_certificate(cA, s.n, nA, s.audit, disagree, base_agree, s.sigma, s.alpha)
    phases = (selection_evals, estimation_evals, sample_evals - selection_evals - estimation_evals)
    return pred, radius, cA, nA, sample_evals, phases, time.perf_counter() - wall0, cpu_seconds() - cpu0


def cpu_seconds():
    """User + system CPU time of this process, all threads."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="Models/deq-s-fashion-mnist-sigma0.25.safetensors")
    ap.add_argument("--data-dir", default=None, help="directory holding t10k-images-idx3-ubyte.gz (default: searched)")
    ap.add_argument("--images", type=int, default=3, help="first N of every 20th test image (0, 20, 40, …)")
    ap.add_argument("--skip", type=int, default=20)
    ap.add_argument("--threads", default="1,2", help="comma-separated torch thread counts")
    ap.add_argument("--batch", default="50,400", help="comma-separated batch sizes (chains per block)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-warm", action="store_true", help="skip the untimed warm-up solve per configuration")
    args = ap.parse_args()

    tensors, meta = load_safetensors(args.model)
    arch = json.loads(meta["equicert.architecture"])
    model = DEQS(tensors, arch)
    d = find_data(meta.get("equicert.data", "fashion-mnist"), args.data_dir)
    images = read_idx(os.path.join(d, "t10k-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(d, "t10k-labels-idx1-ubyte.gz"))
    idx = [i * args.skip for i in range(args.images)]
    s = Settings()
    print(f"# torch {torch.__version__}, model {args.model}, data {d}, images {idx}", flush=True)
    print("threads\tbatch\tidx\tlabel\tpredict\tradius\tcA\tN_A\tsample_evals\tsel+est+audit\tseconds\tcpu_seconds", flush=True)
    summary = []
    with torch.no_grad():
        for threads in [int(v) for v in args.threads.split(",")]:
            torch.set_num_threads(threads)
            for batch in [int(v) for v in args.batch.split(",")]:
                if not args.no_warm:  # one untimed solve: first-call allocations and kernel selection
                    x = torch.from_numpy(images[0].astype(np.float32) / 255).unsqueeze(0).unsqueeze(0)
                    classify(model, x.expand(batch, -1, -1, -1).contiguous(), None, s.warmup)
                total_e, total_s, total_c = 0, 0.0, 0.0
                for i in idx:
                    img = torch.from_numpy(images[i].astype(np.float32) / 255).unsqueeze(0)
                    gen = torch.Generator().manual_seed(args.seed * 1_000_003 + i)
                    pred, radius, cA, nA, e, phases, sec, cpu = certify(model, img, gen, s, batch)
                    total_e += e; total_s += sec; total_c += cpu
                    print(f"{threads}\t{batch}\t{i}\t{int(labels[i])}\t{pred}\t{radius:.3}\t{cA}\t{nA}\t{e}\t{'+'.join(map(str, phases))}\t{sec:.2f}"
                          f"\t{cpu:.2f}", flush=True)
                summary.append((threads, batch, total_e, total_s, total_c))
    # On a machine shared with other jobs the wall-clock rate understates PyTorch; at 1 thread the CPU-time rate
    # is the better estimate of an idle machine's (at 2 threads CPU time adds up both threads' time).
    print("# summary: threads batch sample_evals wall_s cpu_s sample_evals/wall_s sample_evals/cpu_s", flush=True)
    for threads, batch, e, sec, cpu in summary:
        print(f"# {threads}\t{batch}\t{e}\t{sec:.2f}\t{cpu:.2f}\t{e / sec:.0f}\t{e / cpu:.0f}", flush=True)


if __name__ == "__main__":
    main()
