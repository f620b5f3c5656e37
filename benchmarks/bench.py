"""Side-by-side throughput benchmark: the tutorial as written vs daft-mnist vs raw torch.

Everything runs in one process, on the same test images and the same weights:

1. ``tutorial``      - the tutorial's pipeline as written: ``read_json`` without a schema,
   per-row ``.apply`` to Python objects, the legacy ``@daft.udf`` class, numpy ``/255``.
2. ``library e2e``   - ``load_mnist -> add_image_2d -> classify -> accuracy_by_label`` from
   the gzipped JSON file, with the default ``precision="auto"`` (int8 for calibrated
   checkpoints such as the bundled one) and again with ``precision="float32"``.
3. ``classify only`` - ``classify`` over an ``image_2d`` column already in memory, both
   precisions.
4. ``raw torch``     - hand-written loops over a preloaded uint8 tensor, in the best
   configurations found on this CPU: float32 (a small grid of threads x chunk size,
   channels-last, traced and inference-optimized) and, when the checkpoint is calibrated,
   int8 (:class:`daft_mnist.model.quantize.Int8Net`, threads x chunk size): the practical limits.
   Classify-only is compared with the raw loop of the same precision.

Then the 60,000-image training file end to end (images/s and peak RSS of that run), the
time of ``import daft_mnist`` in a fresh interpreter, and the first-batch latency (model
load + first 1,024 predictions). Prints a table of medians and the ratios against the
targets of the performance issue.

Usage::

    python benchmarks/bench.py                   # bundled weights, 3 repeats (~5 min on 2 cores)
    python benchmarks/bench.py --weights my.pt   # any daft-mnist checkpoint or bare state dict
    python benchmarks/bench.py --quick           # 1 repeat, 2,000 test / 12,000 train images
    python benchmarks/bench.py --markdown        # also print the table as Markdown
"""

from __future__ import annotations

import argparse
import copy
import gc
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# --------------------------------------------------------------------------------------
# Measurement helpers
# --------------------------------------------------------------------------------------


def _vm_hwm_bytes() -> int | None:
    """Peak RSS since the last reset (Linux ``VmHWM``), or ``None`` where unavailable."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (``echo 5 > /proc/self/clear_refs``); True on success."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak_rss_bytes() -> int:
    hwm = _vm_hwm_bytes()
    if hwm is not None:
        return hwm
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux: KiB


@dataclass
class Result:
    """Timings of one benchmark row (seconds per run) and what it checked."""

    name: str
    images: int
    seconds: list[float] = field(default_factory=list)
    accuracy: float | None = None
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def rate(self) -> float:
        return self.images / self.median


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


# --------------------------------------------------------------------------------------
# 1. The tutorial, as written (the model scaffold and UDF are the tutorial's code)
# --------------------------------------------------------------------------------------


def tutorial_frame(json_path: str, weights: Path, limit: int | None) -> Any:
    """The tutorial's pipeline, step for step, ending in its analysis frame.

    Two deliberate differences, neither of which changes the work done per row: the state
    dict comes from ``weights`` instead of ``torch.hub`` (same weights as the other rows),
    and after the tutorial's ``/ 255`` the checkpoint's mean/std normalization is applied
    (one vectorized numpy op), so that its predictions, and accuracy, match the library's.
    The tutorial's ``.show()`` calls are left out; the analysis frame is collected instead.
    """
    import daft
    from daft import DataType, col, udf
    from PIL import Image

    # The tutorial's Net is daft_mnist.model.checkpoint.Net layer for layer (same modules, same forward,
    # same state-dict keys: tests/test_model.py); built here as the tutorial builds it, with
    # no eval() and with autograd on.
    from daft_mnist.model.checkpoint import Net, load_checkpoint

    ckpt = load_checkpoint(weights)
    state_dict = ckpt.state_dict
    mean, std = ckpt.preprocessing.mean, ckpt.preprocessing.std

    images_df = daft.read_json(json_path)
    if limit is not None:
        images_df = images_df.limit(limit)
    images_df = images_df.with_column(
        "image_2d",
        col("image").apply(lambda img: np.array(img).reshape(28, 28), return_dtype=DataType.python()),
    )
    images_df = images_df.with_column(
        "pil_image",
        col("image_2d").apply(lambda arr: Image.fromarray(arr.astype(np.uint8)), return_dtype=DataType.python()),
    )

    import torch

    @udf(return_dtype=DataType.int64())
    class ClassifyImages:
        def __init__(self) -> None:
            self.model = Net()
            self.model.load_state_dict(state_dict)

        def __call__(self, images_2d_col: Any) -> Any:
            images_arr = np.array(images_2d_col.to_pylist())
            normalized_image_2d = images_arr / 255
            normalized_image_2d = (normalized_image_2d - mean) / std  # the checkpoint's contract
            normalized_image_2d = normalized_image_2d[:, np.newaxis, :, :]
            classifications = self.model(torch.from_numpy(normalized_image_2d).float())
            return classifications.detach().numpy().argmax(axis=1)

    classified_images_df = images_df.with_column("model_classification", ClassifyImages(col("image_2d")))
    analysis_df = (
        classified_images_df.with_column(
            "correct", (col("model_classification") == col("label")).cast(DataType.int64())
        )
        .with_column("wrong", (col("model_classification") != col("label")).cast(DataType.int64()))
        .groupby(col("label"))
        .agg(
            col("label").count().alias("num_rows"),
            col("correct").sum(),
            col("wrong").sum(),
        )
        .sort(col("label"))
    )
    return analysis_df


def run_tutorial(json_path: str, weights: Path, limit: int | None) -> float:
    out = tutorial_frame(json_path, weights, limit).to_pydict()
    return sum(out["correct"]) / sum(out["num_rows"])


# --------------------------------------------------------------------------------------
# 2./3. The library
# --------------------------------------------------------------------------------------


def run_library_e2e(json_path: str, weights: Path, limit: int | None, precision: str = "auto") -> float:
    from daft_mnist import accuracy_by_label, add_image_2d, classify, load_mnist

    df = load_mnist(json_path)
    if limit is not None:
        df = df.limit(limit)
    report = accuracy_by_label(classify(add_image_2d(df), weights=weights, precision=precision)).to_pydict()
    return _report_accuracy(report)


def _report_accuracy(report: dict[str, list[Any]]) -> float:
    if "correct" in report and "num_rows" in report:
        return float(sum(report["correct"]) / sum(report["num_rows"]))
    if "accuracy" in report and "num_rows" in report:
        n = sum(report["num_rows"])
        return float(sum(a * r for a, r in zip(report["accuracy"], report["num_rows"], strict=True)) / n)
    raise KeyError(f"unexpected accuracy_by_label columns: {sorted(report)}")


def in_memory_image_2d(json_path: str, limit: int | None) -> Any:
    """The test images as an ``image_2d`` column held in memory (a collected frame)."""
    from daft_mnist import add_image_2d, load_mnist

    df = load_mnist(json_path)
    if limit is not None:
        df = df.limit(limit)
    return add_image_2d(df).select("image_2d", "label").collect()


def run_classify_only(mem_df: Any, weights: Path, labels: np.ndarray, precision: str = "auto") -> float:
    from daft_mnist import classify

    out = classify(mem_df, weights=weights, precision=precision).select("model_classification").to_arrow()
    pred = out.column("model_classification").to_numpy()
    return float(np.mean(pred == labels))


# --------------------------------------------------------------------------------------
# 4. Raw torch: the best hand-written loop we found on this CPU
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TorchConfig:
    threads: int
    chunk: int
    optimized: bool  # channels-last + trace + optimize_for_inference (else eager NCHW)
    int8: bool = False  # daft_mnist.model.quantize.Int8Net on raw uint8 pixels

    def label(self) -> str:
        kind = "int8" if self.int8 else "traced channels-last" if self.optimized else "eager"
        return f"{kind}, {self.threads} thread(s), chunks of {self.chunk}"


class RawTorch:
    """A hand-written inference loop over a preloaded uint8 tensor ``(N, 784)``."""

    def __init__(self, weights: Path, pixels: np.ndarray) -> None:
        import torch

        from daft_mnist.model.checkpoint import load_model

        self.torch = torch
        self.net = load_model(weights)
        a, b = self.net.preprocessing._affine()
        self.scale, self.shift = float(a), float(b)
        self.x = torch.from_numpy(np.array(pixels, dtype=np.uint8, copy=True))  # owned, writable
        eager_cl = copy.deepcopy(self.net).to(memory_format=torch.channels_last)
        example = self._norm(self.x[:256])
        with torch.no_grad():
            self.optimized = torch.jit.optimize_for_inference(torch.jit.trace(eager_cl, example))
        self.int8: Any = None
        from daft_mnist.model.quantize import CALIBRATION_KEY, Int8Calibration, Int8Net

        if CALIBRATION_KEY in self.net.metadata:
            self.int8 = Int8Net(self.net, Int8Calibration.from_dict(self.net.metadata[CALIBRATION_KEY]))
        self.x8 = self.x.reshape(-1, 1, 28, 28)

    def _norm(self, xu8: Any) -> Any:
        return xu8.reshape(-1, 1, 28, 28).to(self.torch.float32).mul_(self.scale).add_(self.shift)

    def run(self, cfg: TorchConfig) -> np.ndarray:
        torch = self.torch
        torch.set_num_threads(cfg.threads)
        model = self.optimized if cfg.optimized else self.net
        out = torch.empty(len(self.x), dtype=torch.int64)
        with torch.inference_mode():
            if cfg.int8:
                for i in range(0, len(self.x), cfg.chunk):
                    out[i : i + cfg.chunk] = self.int8(self.x8[i : i + cfg.chunk]).argmax(1)
                return out.numpy()
            for i in range(0, len(self.x), cfg.chunk):
                out[i : i + cfg.chunk] = model(self._norm(self.x[i : i + cfg.chunk])).argmax(1)
        return out.numpy()


# --------------------------------------------------------------------------------------
# Import time and first batch
# --------------------------------------------------------------------------------------


def measure_import_seconds(repeats: int) -> float:
    code = "import time; t = time.perf_counter(); import daft_mnist; print(time.perf_counter() - t)"
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    times = []
    for _ in range(max(3, repeats)):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def measure_first_batch(weights: Path, pixels: np.ndarray) -> float:
    """Seconds to build the library's model (load, optimize) and predict its first 1,024 images."""
    from daft_mnist.model._engine import LoadedModel, ModelSpec

    t0 = time.perf_counter()
    model = LoadedModel(ModelSpec(str(weights)))
    model.predict(pixels[:1024])
    return time.perf_counter() - t0


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), [])
    wanted = ["avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16"]
    return " ".join(f for f in wanted if f in flags)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=None, help="checkpoint to use (default: the bundled one)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per row; medians are reported")
    parser.add_argument("--quick", action="store_true", help="1 repeat, 2,000 test and 12,000 train images")
    parser.add_argument("--skip-train", action="store_true", help="skip the 60,000-image run")
    parser.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    args = parser.parse_args(argv)

    import daft_mnist  # noqa: F401  (timed separately, in a fresh interpreter)
    from daft_mnist.io import default_source
    from daft_mnist.model.weights import resolve_weights

    weights = Path(args.weights) if args.weights is not None else resolve_weights(None)
    repeats = 1 if args.quick else max(1, args.repeats)
    test_limit = 2_000 if args.quick else None
    train_limit = 12_000 if args.quick else None
    test_json = default_source("test")
    train_json = default_source("train")
    if "://" in test_json:
        print("note: reading MNIST from the network; set DAFT_MNIST_DATA_DIR to a local copy", file=sys.stderr)

    import torch

    default_threads = torch.get_num_threads()
    log = lambda msg: print(f"[bench] {msg}", file=sys.stderr, flush=True)  # noqa: E731

    log("import time")
    import_s = measure_import_seconds(repeats)

    log("loading test images into memory")
    mem_df = in_memory_image_2d(test_json, test_limit)
    table = mem_df.to_arrow()
    from daft_mnist.images import pixels_to_numpy

    pixels = pixels_to_numpy(table.column("image_2d"), column="image_2d")
    labels = table.column("label").to_numpy()
    n = len(pixels)

    log("first batch")
    first_batch_s = measure_first_batch(weights, pixels)

    log("raw torch: choosing the best configuration")
    raw = RawTorch(weights, pixels)
    has_int8 = raw.int8 is not None
    ref = raw.run(TorchConfig(default_threads, 1024, optimized=False))
    threads = sorted({1, default_threads})
    float_grid = [TorchConfig(t, c, True) for t in threads for c in (128, 256, 512)] + [
        TorchConfig(default_threads, 1024, False)
    ]
    int8_chunks = (128, 256, 512, 1024) if has_int8 else ()
    int8_grid = [TorchConfig(t, c, False, int8=True) for t in threads for c in int8_chunks]
    grid_times: dict[TorchConfig, float] = {}
    for cfg in float_grid + int8_grid:
        raw.run(cfg)  # warm
        grid_times[cfg] = _timed(lambda cfg=cfg: raw.run(cfg))[0]
    best_float = min(float_grid, key=lambda c: grid_times[c])
    best_int8 = min(int8_grid, key=lambda c: grid_times[c]) if int8_grid else None
    torch.set_num_threads(default_threads)
    for cfg in float_grid + int8_grid:
        log(f"  {cfg.label():45s} {n / grid_times[cfg]:8.0f} img/s")

    from daft_mnist.model._engine import LoadedModel, ModelSpec

    default_precision = LoadedModel(ModelSpec(str(weights))).precision
    rows = {
        "tutorial": Result(f"tutorial as written ({n:,} test)", n, note="no eval(): dropout on, as written"),
        "e2e": Result(f"library end to end ({n:,} test)", n, note=f"default precision: {default_precision}"),
        "e2e_f32": Result(f"library end to end, float32 ({n:,} test)", n, note='precision="float32"'),
        "classify": Result("library classify only (in memory)", n, note=f"default precision: {default_precision}"),
        "classify_f32": Result("library classify only, float32", n, note='precision="float32"'),
        "raw": Result("raw torch, best float32 loop", n, note=best_float.label()),
    }
    if best_int8 is not None:
        rows["raw_int8"] = Result("raw torch, best int8 loop", n, note=best_int8.label())
    # Warm-up: the library's cached models and Daft's runner, so every timed run is steady state.
    run_classify_only(mem_df, weights, labels)
    run_classify_only(mem_df, weights, labels, "float32")

    def raw_row(key: str, cfg: TorchConfig) -> None:
        torch.set_num_threads(cfg.threads)
        dt, pred = _timed(lambda: raw.run(cfg))
        torch.set_num_threads(default_threads)
        rows[key].seconds.append(dt)
        rows[key].accuracy = float(np.mean(pred == labels))
        if not np.array_equal(pred, ref) and "agrees" not in rows[key].note:
            rows[key].note += f"; agrees with eager float32 on {np.mean(pred == ref):.4%}"

    for r in range(repeats):
        log(f"repeat {r + 1}/{repeats}")
        dt, acc = _timed(lambda: run_tutorial(test_json, weights, test_limit))
        rows["tutorial"].seconds.append(dt)
        rows["tutorial"].accuracy = acc
        for key, precision in (("e2e", "auto"), ("e2e_f32", "float32")):
            dt, acc = _timed(lambda precision=precision: run_library_e2e(test_json, weights, test_limit, precision))
            rows[key].seconds.append(dt)
            rows[key].accuracy = acc
        for key, precision in (("classify", "auto"), ("classify_f32", "float32")):
            dt, acc = _timed(lambda precision=precision: run_classify_only(mem_df, weights, labels, precision))
            rows[key].seconds.append(dt)
            rows[key].accuracy = acc
        raw_row("raw", best_float)
        if best_int8 is not None:
            raw_row("raw_int8", best_int8)

    train_row: Result | None = None
    train_rss: int | None = None
    if not args.skip_train:
        log("60,000-image training file end to end")
        del raw, mem_df, table
        gc.collect()
        reset = _reset_peak_rss()
        rows_train = train_limit or 60_000
        train_row = Result(f"library end to end ({rows_train:,} train)", rows_train)
        dt, acc = _timed(lambda: run_library_e2e(train_json, weights, train_limit))
        train_row.seconds.append(dt)
        train_row.accuracy = acc
        train_rss = _peak_rss_bytes()
        if not reset:
            train_row.note = "peak RSS of the whole process (could not reset the counter)"

    # ----------------------------------------------------------------------------------
    lines: list[tuple[str, str, str, str, str]] = []
    for key in rows:
        row = rows[key]
        lines.append((row.name, f"{row.rate:,.0f}", f"{row.median:.2f}", f"{row.accuracy:.4f}", row.note))
    if train_row is not None:
        rss = f"peak RSS {train_rss / 2**20:,.0f} MiB" if train_rss else ""
        lines.append(
            (
                train_row.name,
                f"{train_row.rate:,.0f}",
                f"{train_row.median:.2f}",
                f"{train_row.accuracy:.4f}",
                "; ".join(x for x in (rss, train_row.note) if x),
            )
        )

    e2e_x = rows["e2e"].rate / rows["tutorial"].rate
    e2e_f32_x = rows["e2e_f32"].rate / rows["tutorial"].rate
    raw_same = rows["raw_int8"] if default_precision == "int8" else rows["raw"]
    cls_x = rows["classify"].rate / raw_same.rate
    cls_f32_x = rows["classify_f32"].rate / rows["raw"].rate
    targets: list[tuple[str, str, str, str]] = [
        (f"library e2e / tutorial ({default_precision})", f"{e2e_x:.1f}x", ">= 4x", _ok(e2e_x >= 4)),
        ("library e2e / tutorial (float32)", f"{e2e_f32_x:.1f}x", "-", ""),
        (f"classify-only / raw torch ({default_precision})", f"{cls_x:.2f}x", ">= 0.8x", _ok(cls_x >= 0.8)),
        ("classify-only / raw torch (float32)", f"{cls_f32_x:.2f}x", ">= 0.8x", _ok(cls_f32_x >= 0.8)),
    ]
    if train_row is not None and train_rss is not None:
        stream_x = train_row.rate / rows["e2e"].rate
        targets.append(("60k run images/s / 10k run", f"{stream_x:.2f}x", "within 20%", _ok(stream_x >= 0.8)))
        targets.append(("60k run peak RSS", f"{train_rss / 2**30:.2f} GiB", "< 2 GB", _ok(train_rss < 2e9)))
    targets.append(("import daft_mnist", f"{import_s:.3f} s", "< 0.5 s", _ok(import_s < 0.5)))
    targets.append(("first batch (model load + 1,024 images)", f"{first_batch_s:.2f} s", "-", ""))

    import daft

    machine = (
        f"{_cpu_name()}, {os.cpu_count()} CPUs ({_cpu_flags()}); torch {torch.__version__} "
        f"({default_threads} threads), daft {daft.__version__}, Python {platform.python_version()}"
    )
    header = f"{n:,} test images, weights {weights.name}, median of {repeats} run(s)"
    print()
    print(f"Machine: {machine}")
    print(header)
    print(_text_table(("pipeline", "images/s", "seconds", "accuracy", "notes"), lines))
    print()
    print(_text_table(("target", "measured", "goal", ""), targets))
    if args.markdown:
        print()
        print(f"Machine: {machine}  ")
        print(f"{header}.")
        print()
        print(_md_table(("pipeline", "images/s", "seconds", "accuracy", "notes"), lines))
        print()
        print(_md_table(("target", "measured", "goal", "met"), targets))
    return 0


def _ok(flag: bool) -> str:
    return "ok" if flag else "MISSED"


def _text_table(header: tuple[str, ...], rows: list[Any]) -> str:
    cells = [tuple(header), *[tuple(r) for r in rows]]
    widths = [max(len(str(r[i])) for r in cells) for i in range(len(header))]
    out = []
    for j, r in enumerate(cells):
        out.append(
            "  ".join(
                str(c).rjust(widths[i]) if 0 < i < len(header) - 1 else str(c).ljust(widths[i]) for i, c in enumerate(r)
            ).rstrip()
        )
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def _md_table(header: tuple[str, ...], rows: list[Any]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
