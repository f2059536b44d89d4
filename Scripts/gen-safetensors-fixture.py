#!/usr/bin/env python3
"""Golden safetensors files written by the reference implementation (huggingface `safetensors`).

Writes into Tests/NeuralNetTests/Fixtures/ (run from the package root, once; the outputs are committed
so the Swift tests need no Python):

  reference-mixed.safetensors   F32, F16, BF16, F64, I64, I32, I16, U8, I8, BOOL tensors + metadata
  reference-f32.safetensors     F32 tensors + one metadata entry (deterministic reference output:
                                the reference orders metadata keys by a randomly seeded hash map,
                                so only a single key gives reproducible bytes)
  reference-f32-multi.safetensors  the same tensors + several metadata keys (structural comparison)
  reference-f32-nometa.safetensors the same tensors, metadata=None (no __metadata__ entry)
  reference.json                the inputs: every tensor's dtype, shape and its values widened to
                                float32 by NumPy, as uint32 bit patterns (exact; NaN and inf included)
  minilm-summary.json           (with --minilm PATH) name, dtype, shape, float64 sum and first values
                                of every tensor of all-MiniLM-L6-v2's model.safetensors

Requires: pip install safetensors numpy
"""
import argparse
import json
import os

import numpy as np
import safetensors
from safetensors import TensorSpec, serialize_file
from safetensors.numpy import save_file, load_file


def bits(a):
    return [int(x) for x in np.asarray(a, dtype=np.float32).reshape(-1).view(np.uint32)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="Tests/NeuralNetTests/Fixtures")
    ap.add_argument("--minilm", help="path to all-MiniLM-L6-v2 model.safetensors")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(20240601)

    # Mixed dtypes: values chosen to exercise the conversions (subnormals, ±0, ±inf, NaN,
    # integers beyond 2^24 that must round, extremes of the small integer types).
    f16 = np.array([0.0, -0.0, 1.0, -2.5, 65504.0, 6.1035156e-05, 5.9604645e-08, 3.0e-06,
                    np.inf, -np.inf, np.nan, 0.333251953125], dtype=np.float16).reshape(3, 4)
    f32 = rng.standard_normal((2, 3, 4)).astype(np.float32)
    f32.reshape(-1)[0] = 1.0e-40  # subnormal float32
    f64 = np.array([1.0 / 3.0, -1e300, 1e-300, 2.0 ** 24 + 1.0, np.pi], dtype=np.float64)
    i64 = np.array([[0, 1, 2, 511, -7, 2 ** 24 + 1, 2 ** 40 + 3, -(2 ** 62)]], dtype=np.int64)
    i32 = np.array([-(2 ** 31), 2 ** 31 - 1, 0, 123456789], dtype=np.int32)
    i16 = np.array([-32768, 32767, -1], dtype=np.int16)
    u8 = np.array([0, 1, 127, 128, 255], dtype=np.uint8)
    i8 = np.array([-128, -1, 0, 127], dtype=np.int8)
    boolean = np.array([[True, False], [False, True]], dtype=np.bool_)
    # BF16: the top 16 bits of float32 values (NumPy has no bfloat16; the reference accepts raw bytes).
    bf16_source = np.array([1.0, -3.140625, 1e-20, 3e38, np.inf, 0.0], dtype=np.float32)
    bf16 = (bf16_source.view(np.uint32) >> 16).astype(np.uint16)
    scalar = np.array(7.25, dtype=np.float32)  # shape []
    empty = np.zeros((0, 3), dtype=np.float32)

    numpy_tensors = {
        "layer.f16": f16, "layer.weight": f32, "stats.f64": f64, "embeddings.position_ids": i64,
        "ints.i32": i32, "ints.i16": i16, "bytes.u8": u8, "bytes.i8": i8, "mask.bool": boolean,
        "scalar": scalar, "empty": empty,
    }
    keep = []
    specs = {}
    for name, a in numpy_tensors.items():
        a = np.require(a, requirements="C")  # (ascontiguousarray would turn a 0-d array into 1-d)
        keep.append(a)
        specs[name] = TensorSpec(dtype=a.dtype.name, shape=list(a.shape), data_ptr=a.ctypes.data, data_len=a.nbytes)
    bf16 = np.ascontiguousarray(bf16)
    keep.append(bf16)
    specs["layer.bf16"] = TensorSpec(dtype="bfloat16", shape=[2, 3], data_ptr=bf16.ctypes.data, data_len=bf16.nbytes)
    mixed_meta = {"format": "np", "note": "mixed dtypes \"quoted\"\nσ=0.25"}
    serialize_file(specs, os.path.join(args.out, "reference-mixed.safetensors"), metadata=mixed_meta)

    with np.errstate(over="ignore"):  # F64 -1e300 → -inf in float32, as Float(Double) does
        widened = {name: a.astype(np.float32) for name, a in numpy_tensors.items()}
    expected = {name: {"dtype": {"float16": "F16", "float32": "F32", "float64": "F64", "int64": "I64",
                                 "int32": "I32", "int16": "I16", "uint8": "U8", "int8": "I8",
                                 "bool": "BOOL"}[a.dtype.name],
                       "shape": list(a.shape), "bits": bits(widened[name])}
                for name, a in numpy_tensors.items()}
    expected["layer.bf16"] = {"dtype": "BF16", "shape": [2, 3],
                              "bits": bits((bf16.astype(np.uint32) << 16).view(np.float32))}

    # F32 only, for byte-for-byte comparison with our writer. Names chosen so that byte order
    # ("Z" < "a", "layer.10" < "layer.2") and escaping matter.
    f32_tensors = {
        "layer.2.weight": rng.standard_normal((3, 2)).astype(np.float32),
        "layer.10.bias": rng.standard_normal(5).astype(np.float32),
        "Zeta": np.array([np.nan, -np.inf, -0.0], dtype=np.float32),
        "a/b \"c\"": rng.standard_normal((1, 1, 2)).astype(np.float32),
        "σ": np.array(0.25, dtype=np.float32),
    }
    single_meta = {"config": "{\"C\": 32, \"E\": 2}\tσ=0.25\u0001/é"}
    multi_meta = {"format": "pt", "dataset": "fashion-mnist", "sigma": "0.25", "Zz": "x\\y"}
    save_file(f32_tensors, os.path.join(args.out, "reference-f32.safetensors"), metadata=single_meta)
    save_file(f32_tensors, os.path.join(args.out, "reference-f32-multi.safetensors"), metadata=multi_meta)
    save_file(f32_tensors, os.path.join(args.out, "reference-f32-nometa.safetensors"))

    reference = {
        "generator": f"safetensors {safetensors.__version__}, numpy {np.__version__}",
        "mixed": {"metadata": mixed_meta, "tensors": expected},
        "f32": {"single_metadata": single_meta, "multi_metadata": multi_meta,
                "tensors": [{"name": n, "shape": list(a.shape), "bits": bits(a)} for n, a in f32_tensors.items()]},
    }
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump(reference, f, indent=1, ensure_ascii=False)
        f.write("\n")

    if args.minilm:
        loaded = load_file(args.minilm)
        summary = {}
        for name, a in loaded.items():
            flat = a.reshape(-1)
            summary[name] = {"dtype": {"float32": "F32", "int64": "I64"}[a.dtype.name], "shape": list(a.shape),
                             "sum": float(flat.astype(np.float64).sum()),
                             "first": bits(flat[:4].astype(np.float32))}
        with open(os.path.join(args.out, "minilm-summary.json"), "w") as f:
            json.dump({"file_sha256": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                       "tensors": summary}, f, indent=0, sort_keys=True)
            f.write("\n")


if __name__ == "__main__":
    main()
