"""Reproduce the whole-digit scorer: ``python scripts/train_whole_digit.py [OUTPUT] [--numbers N]``.

Composes numbers of 2-5 MNIST *training* digits (random heights, gaps from clear to
overlapping, baseline shifts, sometimes an underline, either polarity), runs the number
reader's own over-segmentation on them (``vision._segment.candidates``), and labels each
candidate by the digits its pixels came from: one whole digit (at least 90 % of its ink from one
digit, and at least 85 % of that digit's ink) or not (a fragment, a pair, a digit with a piece
of its neighbour). A small CNN (``model._whole.build_net``) learns the label from the prepared
28x28 candidate; the digit classifier's weights are not touched. Seeded: the same data and
weights on every run (on one machine; torch's CPU kernels may differ across machines).
Reads ``mnist_handwritten_train.json.gz`` from ``DAFT_MNIST_DATA_DIR``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from daft_mnist.model._whole import build_net
from daft_mnist.vision._compose import as_written, compose_number
from daft_mnist.vision._prepare import prepare_stack
from daft_mnist.vision._segment import candidates

SEED = 20
DIGITS = 30000
"""The first this many training digits are used."""


def load_train(n: int) -> np.ndarray:
    path = Path(os.environ.get("DAFT_MNIST_DATA_DIR", "../shared/data")) / "mnist_handwritten_train.json.gz"
    images = []
    with gzip.open(path, "rt") as f:
        for i, line in enumerate(f):
            if i >= n:
                break
            images.append(json.loads(line)["image"])
    return np.asarray(images, dtype=np.uint8).reshape(-1, 28, 28)


def one_number(rng: np.random.Generator, digits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A composed picture (with its polarity and lines) and its owner map."""
    k = int(rng.integers(2, 6))
    pick = digits[rng.integers(len(digits), size=k)]
    style = rng.random()
    if style < 0.4:
        gaps = rng.uniform(0.05, 0.45, k - 1)
    elif style < 0.8:
        gaps = rng.uniform(-0.15, 0.03, k - 1)
    else:
        gaps = rng.uniform(-0.15, 0.45, k - 1)
    composed = compose_number(
        list(pick),
        height=int(rng.integers(24, 64)),
        gaps=gaps.tolist(),
        scales=rng.uniform(0.85, 1.15, k).tolist(),
        shifts=rng.normal(0.0, 0.05, k).tolist(),
    )
    pic = as_written(rng, composed)
    return pic, composed.owner


def labelled_candidates(pic: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cands = candidates(pic, masks=True)
    if cands.reason is not None or not cands.masks:
        return np.zeros((0, *cands.crops.shape[1:]), np.uint8), np.zeros(0)
    k = cands.factor
    own = owner[::k, ::k][: cands.masks[0].shape[0], : cands.masks[0].shape[1]]
    atoms = np.zeros_like(cands.masks[0])
    for m in cands.masks:
        atoms |= m
    ink_of = np.bincount(own[atoms & (own >= 0)].astype(np.int64), minlength=8)
    labels = np.zeros(len(cands.masks))
    for i, m in enumerate(cands.masks):
        counts = np.bincount(own[m & (own >= 0)].astype(np.int64), minlength=8)
        if counts.sum() == 0:
            continue
        d = int(counts.argmax())
        labels[i] = float(counts[d] >= 0.9 * counts.sum() and counts[d] >= 0.85 * ink_of[d])
    return cands.crops, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", default="src/daft_mnist/model/bundled/whole_digit.pt")
    parser.add_argument("--numbers", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)
    torch.manual_seed(SEED)
    t0 = time.perf_counter()
    digits = load_train(DIGITS)
    crops, labels = [], []
    for _ in range(args.numbers):
        c, lab = labelled_candidates(*one_number(rng, digits))
        crops.append(c)
        labels.append(lab)
    stack = np.concatenate(crops)
    y = np.concatenate(labels)
    x = prepare_stack(stack).pixels
    print(
        f"{len(y)} candidates from {args.numbers} numbers, {y.mean():.1%} whole digits, {time.perf_counter() - t0:.0f}s"
    )
    order = rng.permutation(len(y))
    split = int(0.9 * len(y))
    xt = torch.from_numpy(x[order]).float().div(255.0).unsqueeze(1)
    yt = torch.from_numpy(y[order]).float()
    net = build_net()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    for epoch in range(args.epochs):
        net.train()
        perm = torch.randperm(split)
        for s in range(0, split, 128):
            b = perm[s : s + 128]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net(xt[b])[:, 0], yt[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        with torch.inference_mode():
            p = net(xt[split:])[:, 0] > 0
        acc = (p == (yt[split:] > 0.5)).float().mean().item()
        print(
            f"epoch {epoch + 1}/{args.epochs} held-out accuracy {acc:.4f} {time.perf_counter() - t0:.0f}s", flush=True
        )
    meta = {
        "command": "python scripts/train_whole_digit.py",
        "numbers": args.numbers,
        "candidates": len(y),
        "held_out_accuracy": round(acc, 4),
        "seed": SEED,
        "train_data": f"the first {DIGITS} digits of mnist_handwritten_train.json.gz",
    }
    torch.save({"state_dict": net.state_dict(), "metadata": meta}, args.output)
    print(json.dumps({"output": args.output, **meta}))


if __name__ == "__main__":
    main()
