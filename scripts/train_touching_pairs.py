"""Reproduce the touching-pair reader: ``python scripts/train_touching_pairs.py [OUTPUT] [--numbers N]``.

Composes numbers of 2-4 MNIST *training* digits (the first 50,000; mostly touching and
overlapping, some tight or apart; random heights, sizes, baseline shifts, some digits stretched,
squeezed or thickened, sometimes an underline, either polarity), runs the number reader's own
over-segmentation on them (``vision._segment.candidates``), and labels each possible pair
(``Candidates.pairs``) by the digits its pixels came from: two whole neighbours (at least 92 % of
its ink from digits ``a`` and ``a + 1``, and at least 85 % of each one's ink), with their labels,
or not (one digit, a fragment, a digit with a piece of its neighbour, three digits). A small CNN
(``model._pair.build_net``) learns both; the digit classifier's weights are not touched.
(Varying each batch as the single-digit training's ``augment="strokes"`` does was tried: it read
fewer touching pairs of the real digits right, 84.3 -> 78.6 %.) The
digits' softmax temperature is then fitted on pairs composed from training digits 50,000+.

Seeded: the same data and weights on every run (on one machine; torch's CPU kernels may differ
across machines). Reads ``mnist_handwritten_train.json.gz`` from ``DAFT_MNIST_DATA_DIR``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import torch

from daft_mnist.model._pair import build_net
from daft_mnist.vision._compose import as_written, compose_number, varied_digit
from daft_mnist.vision._segment import candidates

SEED = 21
TRAIN_DIGITS = 50000
"""Training digits ``[0, TRAIN_DIGITS)`` make the training numbers; the rest fit the temperature."""
NEGATIVES_PER_PAIR = 1.5
"""At most this many "not a pair" examples are kept per pair."""


def load_train() -> tuple[np.ndarray, np.ndarray]:
    path = Path(os.environ.get("DAFT_MNIST_DATA_DIR", "../shared/data")) / "mnist_handwritten_train.json.gz"
    images, labels = [], []
    with gzip.open(path, "rt") as f:
        for line in f:
            row = json.loads(line)
            images.append(row["image"])
            labels.append(row["label"])
    return np.asarray(images, dtype=np.uint8).reshape(-1, 28, 28), np.asarray(labels, dtype=np.int64)


def one_number(
    rng: np.random.Generator, digits: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A composed picture (with its polarity and lines), its owner map and its digits' labels."""
    k = int(rng.integers(2, 5))
    pick = rng.integers(len(digits), size=k)
    style = rng.random()
    if style < 0.6:
        gaps = rng.uniform(-0.3, 0.0, k - 1)
    elif style < 0.85:
        gaps = rng.uniform(-0.08, 0.1, k - 1)
    else:
        gaps = rng.uniform(-0.2, 0.4, k - 1)
    composed = compose_number(
        [varied_digit(rng, digits[i]) for i in pick],
        height=int(rng.integers(24, 72)),
        gaps=gaps.tolist(),
        scales=rng.uniform(0.85, 1.15, k).tolist(),
        shifts=rng.normal(0.0, 0.05, k).tolist(),
    )
    pic = as_written(rng, composed)
    return pic, composed.owner, labels[pick]


def labelled_pairs(pic: np.ndarray, owner: np.ndarray, digits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The possible pairs' pictures, and per pair ``(is_pair, left, right)`` (``-1`` digits when not a pair)."""
    cands = candidates(pic, masks=True)
    if cands.reason is not None or not len(cands.pairs):
        return np.zeros((0, 32, 64), np.uint8), np.zeros((0, 3), np.int64)
    k = cands.factor
    shape = cands.masks[0].shape
    own = owner[::k, ::k][: shape[0], : shape[1]]
    every = np.zeros(shape, dtype=bool)
    for m in cands.masks:
        every |= m
    ink_of = np.bincount(own[every & (own >= 0)].astype(np.int64), minlength=8)
    y = np.full((len(cands.pairs), 3), -1, dtype=np.int64)
    y[:, 0] = 0
    for p, m in enumerate(cands.pairs.tolist()):
        counts = np.bincount(own[cands.masks[m] & (own >= 0)].astype(np.int64), minlength=8)
        total = counts.sum()
        for a in range(len(digits) - 1):
            two = counts[a] + counts[a + 1]
            if (
                total
                and two >= 0.92 * total
                and min(counts[a] / max(ink_of[a], 1), counts[a + 1] / max(ink_of[a + 1], 1)) >= 0.85
            ):
                y[p] = (1, digits[a], digits[a + 1])
    return cands.pair_crops, y


def _work(args: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    seed, count, lo, hi = args
    rng = np.random.default_rng(seed)
    images, labels = load_train()
    images, labels = images[lo:hi], labels[lo:hi]
    xs, ys = [], []
    for _ in range(count):
        x, y = labelled_pairs(*one_number(rng, images, labels))
        keep = y[:, 0] == 1
        negatives = np.flatnonzero(~keep)
        room = int(np.ceil(NEGATIVES_PER_PAIR * max(int(keep.sum()), 1)))
        if len(negatives) > room:
            negatives = rng.choice(negatives, room, replace=False)
        keep[negatives] = True
        xs.append(x[keep])
        ys.append(y[keep])
    return np.concatenate(xs), np.concatenate(ys)


def generate(numbers: int, lo: int, hi: int, seed: int, workers: int) -> tuple[np.ndarray, np.ndarray]:
    parts = [(seed * 100 + w, numbers // workers, lo, hi) for w in range(workers)]
    with Pool(workers) as pool:
        out = pool.map(_work, parts)
    return np.concatenate([x for x, _ in out]), np.concatenate([y for _, y in out])


def losses(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    out = net(x)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(out[:, 0], y[:, 0].float())
    pos = y[:, 0] == 1
    if pos.any():
        loss = loss + torch.nn.functional.cross_entropy(out[pos, 1:11], y[pos, 1])
        loss = loss + torch.nn.functional.cross_entropy(out[pos, 11:21], y[pos, 2])
    return loss


def fit_temperature(logits: torch.Tensor, y: torch.Tensor) -> float:
    """The temperature that minimizes the digits' negative log-likelihood (a grid search)."""
    best, best_t = float("inf"), 1.0
    for t in np.arange(0.5, 3.01, 0.05):
        nll = sum(
            torch.nn.functional.cross_entropy(logits[:, s : s + 10] / float(t), y[:, c]).item()
            for s, c in ((1, 1), (11, 2))
        )
        if nll < best:
            best, best_t = nll, float(t)
    return round(best_t, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", default="src/daft_mnist/model/bundled/touching_pair.pt")
    parser.add_argument("--numbers", type=int, default=60000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", help="an .npz file: the generated candidates are saved there, or read from it")
    args = parser.parse_args()
    torch.manual_seed(SEED)
    t0 = time.perf_counter()
    if args.data and Path(args.data).exists():
        saved = np.load(args.data)
        x, y, xv, yv = saved["x"], saved["y"], saved["xv"], saved["yv"]
    else:
        x, y = generate(args.numbers, 0, TRAIN_DIGITS, SEED, args.workers)
        xv, yv = generate(args.numbers // 10, TRAIN_DIGITS, 60000, SEED + 1, args.workers)
        if args.data:
            np.savez(args.data, x=x, y=y, xv=xv, yv=yv)
    print(
        f"{len(y)} candidates ({(y[:, 0] == 1).mean():.1%} pairs) from {args.numbers} numbers, "
        f"{len(yv)} held out, {time.perf_counter() - t0:.0f}s",
        flush=True,
    )
    xt = torch.from_numpy(x).float().div(255.0).unsqueeze(1)
    yt = torch.from_numpy(y)
    xvt = torch.from_numpy(xv).float().div(255.0).unsqueeze(1)
    yvt = torch.from_numpy(yv)
    net = build_net()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    steps = args.epochs * ((len(y) + 127) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    for epoch in range(args.epochs):
        net.train()
        perm = torch.randperm(len(y))
        for s in range(0, len(y), 128):
            b = perm[s : s + 128]
            loss = losses(net, xt[b], yt[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        net.eval()
        with torch.inference_mode():
            out = torch.cat([net(xvt[s : s + 1024]) for s in range(0, len(yv), 1024)])
        pos = yvt[:, 0] == 1
        is_acc = ((out[:, 0] > 0) == pos).float().mean().item()
        both = (
            ((out[pos, 1:11].argmax(1) == yvt[pos, 1]) & (out[pos, 11:21].argmax(1) == yvt[pos, 2]))
            .float()
            .mean()
            .item()
        )
        print(
            f"epoch {epoch + 1}/{args.epochs} held out: pair or not {is_acc:.4f}, both digits of pairs {both:.4f} "
            f"{time.perf_counter() - t0:.0f}s",
            flush=True,
        )
    temperature = fit_temperature(out[pos], yvt[pos])
    meta = {
        "command": "python scripts/train_touching_pairs.py",
        "numbers": args.numbers,
        "candidates": len(y),
        "held_out_pair_accuracy": round(is_acc, 4),
        "held_out_both_digits": round(both, 4),
        "temperature": temperature,
        "seed": SEED,
        "train_data": f"digits [0, {TRAIN_DIGITS}) of mnist_handwritten_train.json.gz; held out: the rest",
    }
    torch.save({"state_dict": net.state_dict(), "metadata": meta}, args.output)
    print(json.dumps({"output": args.output, **meta}))


if __name__ == "__main__":
    main()
