"""Fail-fast checks that the model instances asked for can run on the current Daft runner.

What the runner can schedule is probed through Daft's public ``get_or_infer_runner_type``
and Ray's public API; the one Daft internal used, ``daft.internal.gpu.cuda_visible_devices``
(the GPUs Daft's native runner schedules on), is called in :func:`native_gpus` only.
"""

from __future__ import annotations

import importlib
import os
from typing import Any, NamedTuple

__all__ = ["Schedulable", "check_schedulable", "native_gpus", "schedulable"]


class Schedulable(NamedTuple):
    """What a runner can schedule, in total and on its largest node."""

    where: str
    cpus: float
    gpus: float
    node_cpus: float
    node_gpus: float


def _local_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def native_gpus() -> int:
    """GPUs that Daft's native runner schedules on (its own count: ``CUDA_VISIBLE_DEVICES`` or NVML).

    The only use of a Daft internal in the package; ``tests/test_scheduling.py`` fails
    loudly if Daft moves or changes it.
    """
    from daft.internal.gpu import cuda_visible_devices

    return len(cuda_visible_devices())


def _ray_schedulable() -> Schedulable | None:
    try:  # Any: Ray is optional (the ``ray`` extra) and only partly typed
        ray: Any = importlib.import_module("ray")
    except ImportError:
        return None
    if not ray.is_initialized():
        return None
    total = ray.cluster_resources()
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    return Schedulable(
        "the Ray cluster",
        float(total.get("CPU", 0)),
        float(total.get("GPU", 0)),
        max((float(n.get("CPU", 0)) for n in nodes), default=0.0),
        max((float(n.get("GPU", 0)) for n in nodes), default=0.0),
    )


def schedulable() -> Schedulable | None:
    """What the current runner can schedule; ``None`` when unknown (Ray runner, Ray not initialized)."""
    import daft

    if daft.get_or_infer_runner_type() == "ray":
        return _ray_schedulable()
    cpus, gpus = float(_local_cpus()), float(native_gpus())
    return Schedulable("this machine (Daft's native runner)", cpus, gpus, cpus, gpus)


def _max_instances(per_cpu: float, gpus: float, total_cpus: float, total_gpus: float) -> int:
    limits = [total_cpus / per_cpu] if per_cpu > 0 else []
    if gpus > 0:
        limits.append(total_gpus / gpus)
    return int(min(limits)) if limits else 0


def check_schedulable(*, max_concurrency: int | None, cpus: float | None, gpus: float) -> None:
    """Fail fast when the model instances asked for cannot all run on the current runner.

    Daft waits (by default two minutes) for class-UDF instances that the cluster can never
    start, then goes on with fewer or fails; this raises at once instead. Nothing is checked
    when Daft chooses the concurrency and no resources are asked for, or when the Ray runner
    is selected but Ray is not initialized yet.

    Args:
        max_concurrency: Model instances asked for (``None``: Daft's choice, counted as 1).
        cpus: CPUs per instance (``None``: Daft's default of 1).
        gpus: GPUs per instance.

    Raises:
        ValueError: More CPUs or GPUs asked for than the runner has, in total or on any one node.
    """
    if max_concurrency is None and cpus is None and not gpus:
        return
    found = schedulable()
    if found is None:
        return
    where, total_cpus, total_gpus, node_cpus, node_gpus = found
    instances = max_concurrency or 1
    per_cpu = 1.0 if cpus is None else float(cpus)
    asked = f"max_concurrency={max_concurrency}, cpus={cpus}, gpus={gpus:g}"
    eps = 1e-9
    if per_cpu > node_cpus + eps or gpus > node_gpus + eps:
        raise ValueError(
            f"Classifier({asked}): one model instance needs {per_cpu:g} CPUs and {gpus:g} GPUs, but the largest "
            f"node of {where} has {node_cpus:g} CPUs and {node_gpus:g} GPUs, so no instance could ever start; "
            "lower cpus/gpus (gpus=0 runs on CPU)"
        )
    if instances * per_cpu > total_cpus + eps or instances * gpus > total_gpus + eps:
        raise ValueError(
            f"Classifier({asked}): {instances} model instances need {instances * per_cpu:g} CPUs and "
            f"{instances * gpus:g} GPUs, but {where} has {total_cpus:g} CPUs and {total_gpus:g} GPUs; "
            f"lower max_concurrency to at most {_max_instances(per_cpu, gpus, total_cpus, total_gpus)} "
            "(or ask for fewer cpus/gpus per instance) instead of waiting for instances that cannot start"
        )
