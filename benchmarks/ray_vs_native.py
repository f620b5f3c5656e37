"""Images per second of the same pipeline on Daft's native runner and on a local Ray cluster.

Daft allows one runner per process, so each runner is measured in a child process of this
script. The pipeline is the tutorial's: read the gzipped JSON test set, check and reshape
the pixels, classify (``daft_mnist.classify``), collect the predictions. The time counted
is the query's wall time (reading, model loading, Ray actor start-up included); the Ray
cluster's own start-up is reported apart.

    DAFT_MNIST_DATA_DIR=../shared/data python benchmarks/ray_vs_native.py [--n 10000]

Weights: the bundled ones when installed, else a random-init checkpoint (throughput only).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import benchmark_weights


def _child(args: argparse.Namespace) -> dict[str, Any]:
    import daft

    from daft_mnist import add_image_2d, classify, load_mnist

    out: dict[str, Any] = {"runner": args.runner}
    if args.runner == "ray":
        import ray

        t0 = time.perf_counter()
        ray.init(num_cpus=args.ray_cpus, include_dashboard=False, _temp_dir=args.ray_tmp, log_to_driver=False)
        daft.set_runner_ray(noop_if_initialized=True)
        out["startup_s"] = time.perf_counter() - t0
        out["cluster_cpus"] = ray.cluster_resources().get("CPU", 0)
    else:
        daft.set_runner_native()
    weights = None if args.weights == "bundled" else args.weights
    df = add_image_2d(load_mnist().limit(args.n))
    df = classify(
        df,
        weights=weights,
        batch_size=args.batch_size,
        max_concurrency=args.max_concurrency,
        device="cpu",
    ).select("model_classification")
    t0 = time.perf_counter()
    rows = len(df.to_pydict()["model_classification"])
    seconds = time.perf_counter() - t0
    out.update(rows=rows, seconds=seconds, images_per_s=rows / seconds)
    if args.runner == "ray":
        import ray

        ray.shutdown()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="test images to classify")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--max-concurrency", type=int, default=None, help="model instances (Ray: actors)")
    parser.add_argument("--ray-cpus", type=int, default=os.cpu_count() or 1, help="CPUs of the local Ray cluster")
    parser.add_argument("--runner", choices=["native", "ray"], help=argparse.SUPPRESS)
    parser.add_argument("--weights", help=argparse.SUPPRESS)
    parser.add_argument("--ray-tmp", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.runner:  # child
        print(json.dumps(_child(args)))
        return 0

    # Short: Ray's Unix socket paths under it are limited to 107 bytes.
    tmp = Path(tempfile.mkdtemp(prefix="dmb", dir="/tmp" if os.path.isdir("/tmp") else None))
    try:
        weights, described = benchmark_weights(tmp)
        print(
            f"{args.n} test images, batch_size={args.batch_size}, max_concurrency={args.max_concurrency}, "
            f"weights: {described}, CPUs: {os.cpu_count()}"
        )
        results = []
        for runner in ("native", "ray"):
            cmd = [sys.executable, __file__, "--runner", runner, "--n", str(args.n)]
            cmd += ["--batch-size", str(args.batch_size), "--ray-cpus", str(args.ray_cpus)]
            cmd += ["--weights", weights or "bundled", "--ray-tmp", str(tmp / "r")]
            if args.max_concurrency is not None:
                cmd += ["--max-concurrency", str(args.max_concurrency)]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                print(f"{runner}: failed (exit {proc.returncode})\n{proc.stderr[-3000:]}", file=sys.stderr)
                return 1
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            results.append(result)
            extra = (
                f" (cluster start-up {result['startup_s']:.1f} s, {result['cluster_cpus']:g} CPUs, not counted)"
                if runner == "ray"
                else ""
            )
            print(
                f"{runner:>6}: {result['images_per_s']:8.0f} images/s "
                f"({result['rows']} images in {result['seconds']:.1f} s){extra}"
            )
        print(f" ratio: ray/native = {results[1]['images_per_s'] / results[0]['images_per_s']:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
