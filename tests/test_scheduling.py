"""What the scheduling checks read from Daft: fails loudly if Daft changes what they rely on."""

from __future__ import annotations

import os

import daft
import pytest

from daft_mnist import _scheduling


def test_daft_internal_gpu_count_is_still_there(monkeypatch: pytest.MonkeyPatch) -> None:
    """``daft.internal.gpu.cuda_visible_devices`` is the one Daft internal the package uses
    (Daft's own count of the GPUs its native runner schedules on). If this fails, Daft moved or
    changed it: update ``_scheduling.native_gpus``."""
    from daft.internal.gpu import cuda_visible_devices

    assert isinstance(cuda_visible_devices(), list)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert cuda_visible_devices() == ["0", "1"]
    assert _scheduling.native_gpus() == 2
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert _scheduling.native_gpus() == 0


def test_native_runner_reports_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    assert daft.get_or_infer_runner_type() == "native"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    found = _scheduling.schedulable()
    assert found is not None
    assert found.where == "this machine (Daft's native runner)"
    assert found.cpus == found.node_cpus == len(os.sched_getaffinity(0))
    assert found.gpus == found.node_gpus == 1


def test_ray_runner_before_ray_starts_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(daft, "get_or_infer_runner_type", lambda: "ray")
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("Ray is running in this process")
    assert _scheduling.schedulable() is None
