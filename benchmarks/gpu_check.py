"""GPU check: CUDA inference agrees with CPU, and images/s on the GPU.

On a machine without CUDA it prints ``skipped: no CUDA device`` and exits 0. Otherwise it
classifies MNIST test images (``$DAFT_MNIST_DATA_DIR``, else random pixels) on CPU and on
CUDA, checks that the predictions agree (differences only at numerical ties) and the
probabilities are close, and prints the throughput of the model alone and of the Daft
pipeline with ``device="auto", gpus=1``. Exits 1 if CUDA and CPU disagree.

    python benchmarks/gpu_check.py [--n 10000] [--batch-size 4096]

Weights: the bundled ones when installed, else a random-init checkpoint.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
from _common import benchmark_weights

TIE = 1e-4
ATOL = 1e-4


def _pixels(n: int) -> tuple[npt.NDArray[np.uint8], str]:
    from daft_mnist.io import default_source

    if "://" not in default_source("test"):
        from daft_mnist import load_mnist

        images = load_mnist().limit(n).to_pydict()["image"]
        return np.asarray(images, dtype=np.uint8), "MNIST test images"
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(n, 784), dtype=np.uint8), "random pixels ($DAFT_MNIST_DATA_DIR not set)"


def _model_throughput(model: object, pixels: npt.NDArray[np.uint8], batch_size: int) -> float:
    import torch

    from daft_mnist.model._engine import LoadedModel

    assert isinstance(model, LoadedModel)
    model.predict(pixels[:batch_size])  # warm-up: CUDA context, cuDNN algorithm choice
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(0, len(pixels), batch_size):
        model.predict(pixels[i : i + batch_size])
    torch.cuda.synchronize()
    return len(pixels) / (time.perf_counter() - t0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=4096)
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available():
        print(f"skipped: no CUDA device (torch {torch.__version__}, CUDA build {torch.version.cuda})")
        return 0

    from daft_mnist.model._engine import LoadedModel, ModelSpec
    from daft_mnist.model.checkpoint import resolve_device

    with tempfile.TemporaryDirectory() as tmp:
        weights, described = benchmark_weights(Path(tmp))
        pixels, source = _pixels(args.n)
        print(f"device: {torch.cuda.get_device_name(0)}; {len(pixels)} {source}; weights: {described}")
        assert resolve_device("auto").type == "cuda", "device='auto' should pick CUDA here"

        cpu = LoadedModel(ModelSpec(weights, device="cpu"))
        gpu = LoadedModel(ModelSpec(weights, device="auto"))
        p_cpu = np.concatenate(
            [np.exp(cpu.log_probabilities(pixels[i : i + 1024]).numpy()) for i in range(0, len(pixels), 1024)]
        )
        p_gpu = np.concatenate(
            [np.exp(gpu.log_probabilities(pixels[i : i + 1024]).numpy()) for i in range(0, len(pixels), 1024)]
        )
        pred_cpu, pred_gpu = p_cpu.argmax(1), p_gpu.argmax(1)
        differ = np.flatnonzero(pred_cpu != pred_gpu)
        rows = np.arange(len(pixels))
        gaps = np.abs(p_cpu[rows, pred_cpu] - p_cpu[rows, pred_gpu])[differ]
        max_diff = float(np.abs(p_cpu - p_gpu).max())
        ok = max_diff <= ATOL and bool((gaps < TIE).all())
        print(
            f"agreement: {len(pixels) - len(differ)}/{len(pixels)} predictions equal "
            f"({len(differ)} differ, all at ties < {TIE:g}: {bool((gaps < TIE).all())}); "
            f"max |p_cuda - p_cpu| = {max_diff:.2e} (tolerance {ATOL:g})"
        )

        print(
            f"model alone on CUDA: {_model_throughput(gpu, pixels, args.batch_size):,.0f} images/s "
            f"(batch {args.batch_size})"
        )

        from daft_mnist import add_image_2d, classify, load_mnist

        if source.startswith("MNIST"):
            df = add_image_2d(load_mnist().limit(args.n))
            df = classify(df, weights=weights, batch_size=args.batch_size, device="auto", gpus=1, max_concurrency=1)
            t0 = time.perf_counter()
            n = len(df.select("model_classification").to_pydict()["model_classification"])
            seconds = time.perf_counter() - t0
            print(f"Daft pipeline (read JSON + classify, gpus=1): {n / seconds:,.0f} images/s ({n} in {seconds:.1f} s)")
    if not ok:
        print("FAILED: CUDA and CPU results disagree beyond numerical ties", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
