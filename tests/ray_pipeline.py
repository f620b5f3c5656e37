"""The pipeline of the Ray integration test (``tests/test_ray.py``), for both runners.

Imported, :func:`pipeline` builds the frame on whatever runner the process has (the test
runs it on the native runner). Run as a script, it starts a local Ray cluster, selects
Daft's Ray runner, runs the same pipeline and writes what it saw as JSON. Daft allows one
runner per process, hence the separate process.

    python tests/ray_pipeline.py --out OUT.json --ray-tmp DIR --n 3000 --weights W.pt
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import daft
from daft import col

from daft_mnist import Classifier, add_image_2d, classify, error_counts, load_mnist

PREDICTION = "model_classification"


def pipeline(
    *,
    n: int,
    weights: str | None,
    sha256: str | None = None,
    batch_size: int = 512,
    max_concurrency: int | None = None,
    cpus: float | None = None,
) -> daft.DataFrame:
    """The first ``n`` test images: a key per image, label, prediction, confidence and probabilities.

    ``key`` is a hash of the pixels, so rows can be matched whatever order a runner returns
    them in. The prediction and confidence come from :func:`daft_mnist.classify`, the
    probabilities from :meth:`daft_mnist.Classifier.probabilities`: two class UDFs, so on
    Ray two actor pools of ``max_concurrency`` instances with ``cpus`` each run at once.
    """
    df = load_mnist().limit(n)
    df = df.with_column("key", col("image").hash())
    df = add_image_2d(df)
    df = classify(
        df,
        weights=weights,
        sha256=sha256,
        batch_size=batch_size,
        max_concurrency=max_concurrency,
        cpus=cpus,
        details=True,
    )
    clf = Classifier(weights=weights, sha256=sha256, batch_size=batch_size, max_concurrency=max_concurrency, cpus=cpus)
    df = df.with_column("probabilities", clf.probabilities(col("image_2d")))
    return df.select("key", "label", PREDICTION, f"{PREDICTION}_confidence", "probabilities")


def rows(df: daft.DataFrame) -> dict[str, list[Any]]:
    """Collect ``df`` into plain JSON-able lists (probabilities as lists of floats)."""
    data = df.to_pydict()
    data["probabilities"] = [None if p is None else [float(x) for x in p] for p in data["probabilities"]]
    return data


def bad_rows(weights: str | None, sha256: str | None, *, max_concurrency: int | None) -> dict[str, list[Any]]:
    """:func:`daft_mnist.error_counts` of 40 rows, 3 of them bad, classified with ``details=True``."""
    good = load_mnist().limit(37).select("image").to_pydict()["image"]
    images: list[Any] = [list(p) for p in good] + [[0] * 783, None, [300] * 784]
    df = daft.from_pydict({"image": images}).into_partitions(4)
    out = classify(
        df, weights=weights, sha256=sha256, details=True, on_error="null", max_concurrency=max_concurrency, batch_size=8
    )
    counts: dict[str, list[Any]] = error_counts(out).to_pydict()
    return counts


def _schedule_error(cpus: float) -> str:
    """The error asking for one more model instance than the cluster has CPUs gives ("" if none)."""
    try:
        Classifier(max_concurrency=int(cpus) + 1)(col("image_2d"))
    except ValueError as exc:
        return str(exc)
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="JSON file to write the results to")
    parser.add_argument("--ray-tmp", required=True, help="Ray's temp dir (short: Unix socket paths are limited)")
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--weights", default=None, help="weights path or URL (default: the bundled weights)")
    parser.add_argument("--sha256", default=None)
    parser.add_argument("--remote-weights", default=None, help="URL of the same weights, run on --remote-n rows too")
    parser.add_argument("--remote-sha256", default=None)
    parser.add_argument("--remote-n", type=int, default=200)
    # Two class UDFs in the pipeline, two pools: 2 x 2 x 0.5 CPUs fill the 2-CPU cluster exactly.
    parser.add_argument("--max-concurrency", type=int, default=2)
    parser.add_argument("--cpus", type=float, default=0.5)
    args = parser.parse_args(argv)

    import ray

    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=os.path.abspath(args.ray_tmp))
    daft.set_runner_ray(noop_if_initialized=True)
    startup = time.perf_counter() - t0
    try:
        from daft.runners import _get_runner

        out: dict[str, Any] = {
            "runner": _get_runner().name,
            "cluster_cpus": ray.cluster_resources().get("CPU", 0),
            "startup_s": startup,
        }
        out["schedule_error"] = _schedule_error(out["cluster_cpus"])
        t1 = time.perf_counter()
        frame = pipeline(
            n=args.n,
            weights=args.weights,
            sha256=args.sha256,
            max_concurrency=args.max_concurrency,
            cpus=args.cpus,
        ).collect()
        out["rows"] = rows(frame)
        out["pipeline_s"] = time.perf_counter() - t1
        # Bad rows are counted from the data, on an actor pool (max_concurrency) and on Ray tasks alike.
        out["error_counts"] = bad_rows(args.weights, args.sha256, max_concurrency=1)
        out["task_error_counts"] = bad_rows(args.weights, args.sha256, max_concurrency=None)
        if args.remote_weights:
            out["remote_rows"] = rows(
                pipeline(n=args.remote_n, weights=args.remote_weights, sha256=args.remote_sha256, max_concurrency=1)
            )
    finally:
        ray.shutdown()
    with open(args.out, "w") as f:
        json.dump(out, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
