#!/usr/bin/env python3
"""Learn the embedding projection of the palm feature model (stage one of 1:N search).

The embedding starts from the analytic model's Gabor responses (resp [n, 6, 32, 32]): |resp|
pooled over 4x4 cells (8x8 cells x 6 orientations), each cell divided by its sum over the
orientations (an orientation histogram) and square-rooted: a 384-d descriptor. A linear map to
128 dimensions is then learnt by regularised LDA on synthetic palms: it keeps the directions
along which palms differ from each other and shrinks those along which captures of one palm
differ (shift, rotation, light, blur). Cosine similarity in that space ranks the right palm
far higher than the raw descriptor does (figures in training/README.md).

    npx tsx training/synthetic_responses.ts --seed 424242 --ids 2000 --samples 5 --out /tmp/palm-train
    npx tsx training/synthetic_responses.ts --seed 9090 --ids 1000 --samples 4 --out /tmp/palm-heldout
    python3 training/train_embedding.py --train /tmp/palm-train --heldout /tmp/palm-heldout
    python3 training/build_models.py

Writes training/embedding_projection.npz (mean [384], projection [384, 128], float32) and
training/embedding_projection.json (how it was made, held-out figures). Deterministic for a
given training set (float64 eigen-decomposition, one rounding to float32).

Requires numpy. The product never runs Python.
"""
import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CELL = 4          # |resp| pooled over CELL x CELL blocks of the 32x32 grid (stride CELL)
DIM = 128         # embedding dimensions after projection
REG = 0.03        # within-class scatter shrinkage towards a multiple of the identity


def load(prefix):
    with open(prefix + ".labels.json", "r", encoding="utf-8") as f:
        meta = json.load(f)
    resp = np.fromfile(prefix + ".resp.f32", dtype=np.float32).reshape(meta["shape"])
    return resp, np.asarray(meta["labels"]), meta


def descriptor(resp):
    """The graph's pre-projection descriptor, in numpy (same operations as build_models.py)."""
    n, c, h, w = resp.shape
    cells = np.abs(resp).reshape(n, c, h // CELL, CELL, w // CELL, CELL).mean(axis=(3, 5))
    hist = cells / (cells.sum(axis=1, keepdims=True) + 1e-12)
    return np.sqrt(hist).reshape(n, -1).astype(np.float64)


def fit_lda(x, y, dim, reg):
    mean = x.mean(axis=0)
    xc = x - mean
    classes, index = np.unique(y, return_inverse=True)
    class_means = np.stack([xc[index == k].mean(axis=0) for k in range(len(classes))])
    within = xc - class_means[index]
    sw = within.T @ within / len(within)
    sb = class_means.T @ class_means / len(class_means)
    sw += reg * np.trace(sw) / len(sw) * np.eye(len(sw))
    ev, vecs = np.linalg.eigh(sw)
    whiten = vecs / np.sqrt(ev)
    ev2, u = np.linalg.eigh(whiten.T @ sb @ whiten)
    proj = whiten @ u[:, ::-1][:, :dim]
    # fixed sign per direction (eigenvectors are defined up to sign): largest entry positive
    proj *= np.sign(proj[np.abs(proj).argmax(axis=0), np.arange(dim)])
    return mean, proj


def embed(x, mean, proj):
    e = (x - mean) @ proj
    return e / (np.linalg.norm(e, axis=1, keepdims=True) + 1e-12)


def heldout_figures(emb, labels, enrol=3, gallery_sizes=(10_000, 100_000, 1_000_000), k=20):
    """Gallery = mean of the first `enrol` samples per palm, probes = the rest. For each probe,
    the share p of impostor references scoring at least its genuine score; with a gallery of N
    distinct palms the right one is among the top k when p * N < k (estimated recall)."""
    ids = np.unique(labels)
    gallery, probes, probe_ids = [], [], []
    for i in ids:
        rows = np.where(labels == i)[0]
        g = emb[rows[:enrol]].mean(axis=0)
        gallery.append(g / np.linalg.norm(g))
        probes.extend(emb[rows[enrol:]])
        probe_ids.extend([i] * (len(rows) - enrol))
    gallery, probes, probe_ids = np.stack(gallery), np.stack(probes), np.asarray(probe_ids)
    scores = probes @ gallery.T
    mate = np.searchsorted(ids, probe_ids)
    genuine = scores[np.arange(len(probes)), mate]
    impostor = np.sort(scores[probe_ids[:, None] != ids[None, :]])
    p = 1.0 - np.searchsorted(impostor, genuine, side="left") / len(impostor)
    return {
        "palms": int(len(ids)),
        "probes": int(len(probes)),
        "impostorScores": int(len(impostor)),
        "rank1": round(float((scores.argmax(axis=1) == mate).mean()), 4),
        "estimatedRecallTop%d" % k: {str(n): round(float((p * n < k).mean()), 4) for n in gallery_sizes},
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True, help="prefix written by synthetic_responses.ts")
    ap.add_argument("--heldout", help="another seed's prefix, for the figures only")
    args = ap.parse_args()
    resp, labels, meta = load(args.train)
    x = descriptor(resp)
    mean, proj = fit_lda(x, labels, DIM, REG)
    info = {
        "descriptor": f"sqrt orientation histograms of |resp| over {CELL}x{CELL} cells: {x.shape[1]} values",
        "projection": f"regularised LDA (shrinkage {REG}) to {DIM} dimensions",
        "training": {"generator": "palmid synth (roi)", "seed": meta["seed"], "palms": meta["ids"], "samplesPerPalm": meta["samples"]},
    }
    if args.heldout:
        hresp, hlabels, hmeta = load(args.heldout)
        hx = descriptor(hresp)
        centred = hx - hx.mean(axis=0)
        raw = centred / np.linalg.norm(centred, axis=1, keepdims=True)
        info["heldout"] = {
            "seed": hmeta["seed"],
            "projected": heldout_figures(embed(hx, mean, proj), hlabels),
            "descriptorOnly": heldout_figures(raw, hlabels),
        }
    np.savez(os.path.join(HERE, "embedding_projection.npz"), mean=mean.astype(np.float32), projection=proj.astype(np.float32))
    with open(os.path.join(HERE, "embedding_projection.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
