#!/usr/bin/env python3
"""Rebuild the palm feature model in ../models bit for bit.

The front end is analytic: a fixed bank of even (real) Gabor filters, CompCode style
(Kong & Zhang 2004), written as ONNX convolutions; its responses feed the fine template. The
embedding (stage one of 1:N search) pools them into orientation histograms and applies a linear
projection learnt on synthetic palms by training/train_embedding.py (its weights are read from
training/embedding_projection.npz). The Gabor weights are computed here from closed-form formulas
in float64 and rounded once to float32, the graph is built node by node with fixed names, and the
file is serialised with deterministic protobuf output, so the same inputs give the same bytes
(checked by `--check`, which rebuilds in memory and compares sha256 with the shipped files).

Usage:
    python3 training/train_embedding.py ...   # (only to relearn the projection, see its help)
    python3 training/build_models.py          # writes models/palm-gabor-v2.onnx + manifest
    npx tsx training/calibrate.ts             # (after a model change) thresholds on synthetic palms
    python3 training/build_models.py          # again, to copy the thresholds into the manifest
    python3 training/build_models.py --check  # verifies the shipped files are reproducible

Requires: numpy, onnx (pip, from the local wheel store). onnxruntime is optional (used for a
smoke test when present). The product never needs Python at run time.
"""
import argparse
import hashlib
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "..", "models")

MODEL_NAME = "palm-gabor-v2"
MODEL_VERSION = "2.0.0"
ROI = 128          # input ROI side (pixels), grey, values in [0, 1]
WORK = 64          # the ROI is average-pooled 2x2 to WORK x WORK before filtering
GRID = 32          # code grid side: responses are average-pooled 2x2 again
N_ORI = 6          # orientations 0, 30, ..., 150 degrees
KSIZE = 17         # Gabor kernel side at WORK resolution
# CompCode Gabor parameters (Kong & Zhang 2004): delta = 1.5 octaves bandwidth, kappa from it;
# omega chosen for line widths of palm creases at WORK resolution (wavelength ~ 2*pi/omega px).
DELTA = 1.5
OMEGA = 1.0        # rad/px at 64x64 (wavelength ~6.3 px = ~12.6 px on the 128 ROI)
EMB_CELL = 4       # embedding: |responses| pooled over 4x4 cells of the 32x32 grid -> 8x8 cells
                   # x 6 orientations = 384 values, then projected (learnt) to EMB_DIM
PROJECTION = os.path.join(HERE, "embedding_projection.npz")


def projection():
    if not os.path.exists(PROJECTION):
        sys.exit(f"{PROJECTION} is missing: run training/train_embedding.py first")
    with np.load(PROJECTION) as z:
        return z["mean"].astype(np.float32), z["projection"].astype(np.float32)


def gabor_kernel(theta: float, omega: float, ksize: int) -> np.ndarray:
    kappa = np.sqrt(2.0 * np.log(2.0)) * (2.0 ** DELTA + 1.0) / (2.0 ** DELTA - 1.0)
    r = ksize // 2
    y, x = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float64)
    xp = x * np.cos(theta) + y * np.sin(theta)
    yp = -x * np.sin(theta) + y * np.cos(theta)
    env = omega / (np.sqrt(2.0 * np.pi) * kappa) * np.exp(
        -(omega ** 2) / (8.0 * kappa ** 2) * (4.0 * xp ** 2 + yp ** 2)
    )
    k = env * np.cos(omega * xp)
    k -= k.mean()  # exactly zero DC after truncation: insensitive to brightness
    k /= np.abs(k).sum()
    return k


def build() -> onnx.ModelProto:
    thetas = [np.pi * i / N_ORI for i in range(N_ORI)]
    bank = np.stack([gabor_kernel(t, OMEGA, KSIZE) for t in thetas])[:, None, :, :]
    bank = bank.astype(np.float32)
    mean, proj = projection()
    desc_dim = N_ORI * (GRID // EMB_CELL) ** 2
    assert mean.shape == (desc_dim,) and proj.shape[0] == desc_dim, "projection does not fit the descriptor"

    inits = [
        numpy_helper.from_array(bank, "gabor_bank"),
        numpy_helper.from_array(np.array([-1, desc_dim], dtype=np.int64), "emb_shape_n"),
        numpy_helper.from_array(mean, "emb_mean"),
        numpy_helper.from_array(proj, "emb_projection"),
        numpy_helper.from_array(np.array(1e-12, dtype=np.float32), "eps"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
    ]
    pad = KSIZE // 2
    inits.append(numpy_helper.from_array(np.array([0, 0, pad, pad, 0, 0, pad, pad], dtype=np.int64), "pads"))
    nodes = [
        helper.make_node("AveragePool", ["roi"], ["work"], name="down2", kernel_shape=[2, 2], strides=[2, 2]),
        # reflect padding: the image border must not look like a palm line to the filters
        helper.make_node("Pad", ["work", "pads"], ["padded"], name="pad", mode="reflect"),
        helper.make_node("Conv", ["padded", "gabor_bank"], ["full"], name="gabor", kernel_shape=[KSIZE, KSIZE]),
        helper.make_node("AveragePool", ["full"], ["resp"], name="pool_code", kernel_shape=[2, 2], strides=[2, 2]),
        # embedding: a HOG-like descriptor: orientation energy |resp| pooled over cells,
        # normalised to an orientation histogram per cell, square-rooted (Hellinger), then the
        # learnt projection (centre, project) and L2 normalisation for cosine search (pgvector)
        helper.make_node("Abs", ["resp"], ["energy"], name="abs"),
        helper.make_node(
            "AveragePool", ["energy"], ["cells"], name="pool_emb",
            kernel_shape=[EMB_CELL, EMB_CELL], strides=[EMB_CELL, EMB_CELL],
        ),
        helper.make_node("ReduceSum", ["cells", "axis1"], ["cell_sum"], name="cell_sum", keepdims=1),
        helper.make_node("Add", ["cell_sum", "eps"], ["cell_sum_eps"], name="cell_sum_eps"),
        helper.make_node("Div", ["cells", "cell_sum_eps"], ["hist"], name="histogram"),
        helper.make_node("Sqrt", ["hist"], ["coarse"], name="hellinger"),
        helper.make_node("Reshape", ["coarse", "emb_shape_n"], ["flat"], name="flatten"),
        helper.make_node("Sub", ["flat", "emb_mean"], ["centred"], name="centre"),
        helper.make_node("MatMul", ["centred", "emb_projection"], ["projected"], name="project"),
        helper.make_node("ReduceL2", ["projected"], ["norm"], name="l2", axes=[1], keepdims=1),
        helper.make_node("Add", ["norm", "eps"], ["norm_eps"], name="l2_eps"),
        helper.make_node("Div", ["projected", "norm_eps"], ["embedding"], name="normalise"),
    ]
    # opset 13: ReduceMean/ReduceL2 still take axes as an attribute
    inp = helper.make_tensor_value_info("roi", TensorProto.FLOAT, ["N", 1, ROI, ROI])
    outs = [
        helper.make_tensor_value_info("resp", TensorProto.FLOAT, ["N", N_ORI, GRID, GRID]),
        helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", proj.shape[1]]),
    ]
    graph = helper.make_graph(nodes, MODEL_NAME, [inp], outs, initializer=inits)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 13)],
        producer_name="palmid-training/build_models.py",
        producer_version=MODEL_VERSION,
        ir_version=7,
    )
    model.doc_string = (
        "Palm feature extractor: 6 even Gabor filters (reflect-padded) (CompCode parameters, "
        f"omega={OMEGA} rad/px at {WORK}x{WORK}, delta={DELTA}) on the 2x2-pooled {ROI}x{ROI} ROI; "
        f"outputs the responses pooled to {GRID}x{GRID} and a {proj.shape[1]}-d L2-normalised embedding "
        "(per-cell orientation histograms of |response|, square-rooted, projected by an LDA map "
        "learnt on synthetic palms)."
    )
    onnx.checker.check_model(model)
    return model


def thresholds() -> dict:
    """Decision thresholds from training/calibration.json (written by training/calibrate.ts on
    synthetic palms, never on the evaluation images); verify and identify = FMR 1e-4."""
    path = os.path.join(HERE, "calibration.json")
    if not os.path.exists(path):
        return {"note": "not calibrated yet: run npx tsx training/calibrate.ts, then this script again",
                "verify": 0.32, "identify": 0.32}
    with open(path, "r", encoding="utf-8") as f:
        cal = json.load(f)
    at = {row["fmr"]: row["threshold"] for row in cal["fmrCalibration"]}
    return {
        "note": "similarity from compare() in [0,1], accept when >= threshold; " + cal["note"]
                + "; synthetic impostors score higher than the real dev-set ones, so these are conservative: "
                "re-check on your own data",
        "verify": at[1e-4],
        "identify": at[1e-4],
        "fmrCalibration": [{"fmr": r["fmr"], "threshold": r["threshold"]} for r in cal["fmrCalibration"]],
        "impostorTail": {k: cal["impostorTail"][k] for k in ("model", "mean", "sd")},
    }


def manifest(sha: str, size: int) -> dict:
    emb_dim = projection()[1].shape[1]
    with open(os.path.join(HERE, "embedding_projection.json"), "r", encoding="utf-8") as f:
        learnt = json.load(f)
    return {
        "format": "palmid-models/1",
        "models": [
            {
                "name": MODEL_NAME,
                "file": f"{MODEL_NAME}.onnx",
                "version": MODEL_VERSION,
                "kind": "analytic front end, learnt embedding projection",
                "sha256": sha,
                "bytes": size,
                "opset": 13,
                "input": {"name": "roi", "shape": ["N", 1, ROI, ROI], "dtype": "float32",
                          "range": [0, 1], "meaning": "grey palm ROI, rotation and scale normalised"},
                "outputs": [
                    {"name": "resp", "shape": ["N", N_ORI, GRID, GRID], "dtype": "float32",
                     "meaning": f"even Gabor responses, orientations k*180/{N_ORI} deg, pooled to {GRID}x{GRID}"},
                    {"name": "embedding", "shape": ["N", emb_dim], "dtype": "float32",
                     "meaning": "L2-normalised embedding for cosine search (pgvector)"},
                ],
                "parameters": {"omega": OMEGA, "delta": DELTA, "kernel": KSIZE, "orientations": N_ORI,
                               "work": WORK, "grid": GRID, "embeddingCell": EMB_CELL,
                               "embeddingProjection": {k: learnt[k] for k in ("descriptor", "projection", "training")}},
                "thresholds": thresholds(),
                "howMade": "python3 training/build_models.py: closed-form Gabor weights; embedding "
                           "projection from training/train_embedding.py on synthetic palms only "
                           "(training/embedding_projection.npz); bit-for-bit reproducible",
            }
        ],
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="rebuild in memory and compare with shipped files")
    args = ap.parse_args()
    model = build()
    data = model.SerializeToString(deterministic=True)
    sha = hashlib.sha256(data).hexdigest()
    man = manifest(sha, len(data))
    man_text = json.dumps(man, indent=2) + "\n"
    onnx_path = os.path.join(MODELS, f"{MODEL_NAME}.onnx")
    man_path = os.path.join(MODELS, "manifest.json")
    if args.check:
        ok = True
        with open(onnx_path, "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() != sha:
                print(f"MISMATCH {onnx_path}")
                ok = False
        with open(man_path, "r", encoding="utf-8") as f:
            if f.read() != man_text:
                print(f"MISMATCH {man_path}")
                ok = False
        print("reproducible" if ok else "NOT reproducible")
        return 0 if ok else 1
    os.makedirs(MODELS, exist_ok=True)
    with open(onnx_path, "wb") as f:
        f.write(data)
    with open(man_path, "w", encoding="utf-8") as f:
        f.write(man_text)
    print(f"wrote {onnx_path} ({len(data)} bytes, sha256 {sha})")
    try:
        import onnxruntime as ort  # optional smoke test
        s = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        x = np.random.default_rng(0).random((2, 1, ROI, ROI), dtype=np.float32)
        r, e = s.run(None, {"roi": x})
        print("smoke test:", r.shape, e.shape, float(np.linalg.norm(e[0])))
    except ImportError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
