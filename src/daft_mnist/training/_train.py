"""Train the tutorial's :class:`~daft_mnist.model.checkpoint.Net` from a Daft DataFrame, reproducibly.

The recipe behind the bundled weights: AdamW with a one-cycle learning-rate schedule and light
random affine augmentation (small rotations, shifts and zooms), on the preprocessing contract
stored with the weights. Same seed, same data, same torch build: same weights.
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from daft_mnist.errors import DataError, TrainingError
from daft_mnist.training._inputs import (
    check_hyperparameters,
    check_options,
    checked_arrays,
    frame_to_arrays,
)

if TYPE_CHECKING:
    import daft
    import torch

    from daft_mnist.model.network import Net, Preprocessing

__all__ = ["Augment", "EpochStats", "TrainResult", "train", "train_arrays"]

Augment = bool | Literal["strokes"]
"""``True``: random affine; ``"strokes"``: stroke-realistic (see :mod:`daft_mnist.training._strokes`)."""

CALIBRATION_IMAGES = 10_000
"""Training images (the first ones, unaugmented) used to calibrate int8 inference."""


@dataclass(frozen=True)
class EpochStats:
    """Figures for one finished epoch."""

    epoch: int
    loss: float
    train_accuracy: float
    seconds: float
    eval_accuracy: float | None = None


@dataclass
class TrainResult:
    """What :func:`train` returns: the model (in eval mode), its contract and how it was made."""

    model: Net
    preprocessing: Preprocessing
    history: list[EpochStats] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write a daft-mnist checkpoint (loadable with ``weights=path``)."""
        from daft_mnist.model.checkpoint import save_checkpoint

        save_checkpoint(path, self.model, self.preprocessing, self.metadata)


def train(
    df: daft.DataFrame,
    *,
    epochs: int = 12,
    seed: int = 0,
    batch_size: int = 128,
    learning_rate: float = 3e-3,
    weight_decay: float = 1e-4,
    augment: Augment = True,
    initial_weights: str | os.PathLike[str] | None = None,
    image: str = "image",
    label: str = "label",
    eval_df: daft.DataFrame | None = None,
    num_threads: int | None = None,
    progress: Callable[[EpochStats], None] | None = None,
) -> TrainResult:
    """Train :class:`~daft_mnist.model.checkpoint.Net` on a DataFrame of images and labels.

    The frame is materialized once (60,000 MNIST images are 47 MB of uint8), then trained on
    in shuffled mini-batches.

    Args:
        df: Frame with an image column (784 pixels as a list, or a 28x28 tensor) and an
            integer label column with values 0-9.
        epochs: Passes over the data.
        seed: Seeds weight initialization, shuffling, dropout and augmentation.
        batch_size: Mini-batch size.
        learning_rate: Peak learning rate of the one-cycle schedule.
        weight_decay: AdamW weight decay.
        augment: ``True``: random affine augmentation (rotation up to 10 degrees, shift up to
            2 pixels, zoom 0.9-1.1) of training batches; ``"strokes"``: stroke-realistic
            augmentation (thickness, blur, ink level, shear, elastic wobble, off-centre shifts;
            see :data:`daft_mnist.training._strokes.STROKES_RECIPE`); ``False``: none.
        initial_weights: Start from this checkpoint (fine-tuning) instead of a random
            initialization; its preprocessing contract must be the tutorial's.
        image: Name of the image column.
        label: Name of the label column.
        eval_df: Optional frame to measure accuracy on after each epoch.
        num_threads: torch intra-op threads (default: all CPUs).
        progress: Called with each epoch's :class:`EpochStats`.

    Returns:
        A :class:`TrainResult` whose model is in eval mode.

    Raises:
        TrainingError: The loss or the weights became NaN or infinite (training diverged);
            the message names the epoch and step and suggests a lower learning rate.
    """
    check_hyperparameters(
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        num_threads=num_threads,
    )
    check_options(augment=augment, seed=seed, progress=progress)
    if image == label:
        raise ValueError(f"image and label must name two different columns, got {image!r} for both")
    pixels, labels = frame_to_arrays(df, image, label)
    eval_arrays = frame_to_arrays(eval_df, image, label, what="eval_df") if eval_df is not None else None
    return train_arrays(
        pixels,
        labels,
        epochs=epochs,
        seed=seed,
        batch_size=batch_size,
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        augment=augment,
        initial_weights=initial_weights,
        eval_arrays=eval_arrays,
        num_threads=num_threads,
        progress=progress,
    )


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random affine warp of a batch of [0, 1] images (background stays 0)."""
    import torch
    import torch.nn.functional as F

    n = x.shape[0]
    angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(10.0)
    zoom = 1.0 + (torch.rand(n, generator=gen) * 2 - 1) * 0.1
    shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * (2.0 * 2 / 28)  # 2 px in [-1, 1] grid units
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def train_arrays(
    pixels: npt.NDArray[np.uint8],
    labels: npt.NDArray[np.int64],
    *,
    epochs: int = 12,
    seed: int = 0,
    batch_size: int = 128,
    learning_rate: float = 3e-3,
    weight_decay: float = 1e-4,
    augment: Augment = True,
    initial_weights: str | os.PathLike[str] | None = None,
    eval_arrays: tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]] | None = None,
    num_threads: int | None = None,
    progress: Callable[[EpochStats], None] | None = None,
) -> TrainResult:
    """Train on in-memory arrays; :func:`train` is this after materializing a frame.

    Args:
        pixels: uint8 ``(N, 784)`` or ``(N, 28, 28)``.
        labels: integer ``(N,)`` with values 0-9.
        epochs: See :func:`train`.
        seed: See :func:`train`.
        batch_size: See :func:`train`.
        learning_rate: See :func:`train`.
        weight_decay: See :func:`train`.
        augment: See :func:`train`.
        initial_weights: See :func:`train`.
        eval_arrays: Optional ``(pixels, labels)`` evaluated after each epoch.
        num_threads: See :func:`train`.
        progress: See :func:`train`.

    Returns:
        A :class:`TrainResult`.

    Raises:
        TrainingError: See :func:`train`.
    """
    import torch

    from daft_mnist.model._engine import torch_threads

    check_hyperparameters(
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        num_threads=num_threads,
    )
    check_options(augment=augment, seed=seed, progress=progress)
    pixels, labels = checked_arrays(pixels, labels, "training data")
    if eval_arrays is not None:
        eval_arrays = checked_arrays(*eval_arrays, "eval data")
    # Seeds and thread counts are set for this run only: torch's global RNG state and thread
    # count are restored afterwards, so the caller's own torch code runs as before.
    with torch_threads(num_threads), torch.random.fork_rng(devices=[]):
        return _train(
            pixels,
            labels,
            epochs=epochs,
            seed=seed,
            batch_size=batch_size,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            augment=augment,
            initial_weights=initial_weights,
            eval_arrays=eval_arrays,
            progress=progress,
        )


def _train(
    pixels: npt.NDArray[np.uint8],
    labels: npt.NDArray[np.int64],
    *,
    epochs: int,
    seed: int,
    batch_size: int,
    learning_rate: float,
    weight_decay: float,
    augment: Augment,
    initial_weights: str | os.PathLike[str] | None,
    eval_arrays: tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]] | None,
    progress: Callable[[EpochStats], None] | None,
) -> TrainResult:
    import torch
    import torch.nn.functional as F

    from daft_mnist.model.checkpoint import non_finite_tensors
    from daft_mnist.model.network import TUTORIAL_PREPROCESSING, Net
    from daft_mnist.training._strokes import augment_strokes

    n = int(pixels.shape[0])
    prep = TUTORIAL_PREPROCESSING
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)

    x_all = torch.from_numpy(np.array(pixels, dtype=np.uint8, copy=True).reshape(n, 1, prep.height, prep.width))
    y_all = torch.from_numpy(np.array(labels, dtype=np.int64, copy=True))

    model = Net()
    if initial_weights is not None:
        from daft_mnist.model.checkpoint import load_checkpoint

        ckpt = load_checkpoint(initial_weights)
        if ckpt.preprocessing != prep:
            raise DataError(
                f"initial_weights {os.fspath(initial_weights)!r}: preprocessing {ckpt.preprocessing} is not {prep}"
            )
        model.load_state_dict(ckpt.state_dict)
    opt = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    steps_per_epoch = math.ceil(n / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=learning_rate, epochs=epochs, steps_per_epoch=steps_per_epoch
    )
    mean, std = prep.mean, prep.std
    history: list[EpochStats] = []
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        t0 = time.perf_counter()
        order = torch.randperm(n, generator=gen)
        total_loss = 0.0
        correct = 0
        for i in range(steps_per_epoch):
            idx = order[i * batch_size : (i + 1) * batch_size]
            xb = x_all[idx].to(torch.float32).mul_(prep.scale)
            if augment == "strokes":
                xb = augment_strokes(xb, gen)
            elif augment:
                xb = _augment(xb, gen)
            xb = (xb - mean) / std
            yb = y_all[idx]
            opt.zero_grad(set_to_none=True)
            out = model(xb)
            loss = F.nll_loss(out, yb)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise _diverged(f"the loss became {value}", epoch, i + 1, steps_per_epoch, learning_rate)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            sched.step()
            total_loss += value * len(idx)
            correct += int((out.argmax(1) == yb).sum())
        eval_acc = None
        if eval_arrays is not None:
            eval_acc = _accuracy(model, prep, *eval_arrays)
        stats = EpochStats(epoch, total_loss / n, correct / n, time.perf_counter() - t0, eval_acc)
        history.append(stats)
        if progress is not None:
            progress(stats)
    model.eval()
    non_finite = non_finite_tensors({k: v.detach() for k, v in model.state_dict().items()})
    if non_finite:  # the last step's update overflowed after a finite loss
        raise _diverged(
            f"the weights became NaN or infinite ({', '.join(non_finite)})",
            epochs,
            steps_per_epoch,
            steps_per_epoch,
            learning_rate,
        )
    from daft_mnist.model.quantize import CALIBRATION_KEY, calibrate_int8

    # Activation ranges for int8 inference, from the (unaugmented) training images.
    calibration = calibrate_int8(model, x_all[:CALIBRATION_IMAGES].reshape(-1, prep.height * prep.width).numpy())
    metadata: dict[str, Any] = {
        "recipe": _recipe(augment, initial_weights),
        "epochs": epochs,
        "seed": seed,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "weight_decay": weight_decay,
        "augment": augment,
        "train_rows": n,
        "train_seconds": round(time.perf_counter() - started, 1),
        "torch": str(torch.__version__),
        "python": platform.python_version(),
        "history": [
            {"epoch": h.epoch, "loss": h.loss, "train_accuracy": h.train_accuracy, "eval_accuracy": h.eval_accuracy}
            for h in history
        ],
        CALIBRATION_KEY: calibration.to_dict(),
        "int8_calibration_data": f"the first {calibration.images} training images",
    }
    return TrainResult(model=model, preprocessing=prep, history=history, metadata=metadata)


def _recipe(augment: Augment, initial_weights: str | os.PathLike[str] | None) -> str:
    from daft_mnist.training._strokes import STROKES_RECIPE

    recipe = "AdamW + OneCycleLR"
    if augment == "strokes":
        recipe += f", stroke-realistic augmentation: {STROKES_RECIPE}"
    elif augment:
        recipe += ", random affine augmentation"
    if initial_weights is not None:
        recipe += f", fine-tuned from {os.path.basename(os.fspath(initial_weights))}"
    return recipe


def _diverged(what: str, epoch: int, step: int, steps: int, learning_rate: float) -> TrainingError:
    return TrainingError(
        f"training diverged: {what} at epoch {epoch}, step {step} of {steps}, with learning_rate={learning_rate:g}; "
        f"try a lower learning rate (e.g. {learning_rate / 10:g}); no weights were returned or written"
    )


def _accuracy(model: Net, prep: Preprocessing, pixels: npt.NDArray[np.uint8], labels: npt.NDArray[np.int64]) -> float:
    import torch

    was_training = model.training
    model.eval()
    correct = 0
    with torch.inference_mode():
        for start in range(0, len(labels), 2048):
            x = torch.from_numpy(prep.normalize_numpy(pixels[start : start + 2048]))
            correct += int((model(x).argmax(1).numpy() == labels[start : start + 2048]).sum())
    model.train(was_training)
    return correct / len(labels)
