"""Stroke-realistic augmentation for training (``augment="strokes"``, issue #12).

Real pictures of digits, once prepared MNIST-style, differ from MNIST in ways a random affine
warp does not imitate: pen strokes are thicker or thinner, edges are softer (camera blur, the
resize), ink is grey rather than white after contrast stretching, the digit is slanted or
wobbly, and it sits a little off the centre. :func:`augment_strokes` applies such changes, in
torch, to a random fraction of each batch so that clean MNIST stays in the mix. Every random
draw comes from the training generator: same seed, same batches.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["STROKES_RECIPE", "augment_strokes"]

STROKES_RECIPE = (
    "random affine (rotation <= 12 deg, shear <= 0.2, zoom 0.85-1.1, shift <= 3 px) on every image; "
    "on 60 % of each batch: stroke thickness (3x3 dilation p=0.3, 2x2 dilation p=0.2, soft erosion p=0.15), "
    "Gaussian blur (sigma 0.4-1.2, p=0.35), elastic wobble (alpha <= 1.5 px, p=0.3), "
    "ink level 0.55-1.0 with gamma 0.6-1.6 (p=0.4), background specks/edge line (p=0.1)"
)
"""The recipe, as recorded in a checkpoint's metadata."""

FRACTION = 0.6


def _rand(n: int, gen: torch.Generator, low: float, high: float) -> torch.Tensor:
    import torch

    return low + (high - low) * torch.rand(n, generator=gen)


def _affine(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    import torch
    import torch.nn.functional as F

    n = x.shape[0]
    angle = _rand(n, gen, -1.0, 1.0) * math.radians(12.0)
    shear = _rand(n, gen, -0.2, 0.2)
    zoom = _rand(n, gen, 0.85, 1.1)
    shift = _rand(2 * n, gen, -1.0, 1.0).reshape(n, 2) * (3.0 * 2 / 28)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # rotation @ shear, divided by zoom (grid coordinates map output -> input)
    a, b = cos / zoom, (cos * shear - sin) / zoom
    c, d = sin / zoom, (sin * shear + cos) / zoom
    theta = torch.stack([torch.stack([a, b, shift[:, 0]], 1), torch.stack([c, d, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    import torch
    import torch.nn.functional as F

    r = torch.arange(-2, 3, dtype=x.dtype)
    k1 = torch.exp(-(r[None, :] ** 2) / (2 * sigma[:, None] ** 2))
    k1 = k1 / k1.sum(1, keepdim=True)  # (n, 5)
    n = x.shape[0]
    # depthwise: one kernel per image, images as channels
    y = F.conv2d(x.reshape(1, n, 28, 28), k1.reshape(n, 1, 1, 5), padding=(0, 2), groups=n)
    y = F.conv2d(y, k1.reshape(n, 1, 5, 1), padding=(2, 0), groups=n)
    return y.reshape(n, 1, 28, 28)


def _elastic(x: torch.Tensor, gen: torch.Generator, alpha: torch.Tensor) -> torch.Tensor:
    import torch
    import torch.nn.functional as F

    n = x.shape[0]
    coarse = torch.rand(n, 2, 4, 4, generator=gen) * 2 - 1
    field = F.interpolate(coarse, size=(28, 28), mode="bicubic", align_corners=True)
    field = field * (alpha * 2 / 28)[:, None, None, None]
    eye = torch.eye(2, 3).expand(n, 2, 3)
    grid = F.affine_grid(eye, list(x.shape), align_corners=False) + field.permute(0, 2, 3, 1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def augment_strokes(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Augment a batch ``(N, 1, 28, 28)`` of [0, 1] images; returns a new tensor in [0, 1].

    Args:
        x: The batch (background 0, ink up to 1).
        gen: The training generator; all randomness comes from it.

    Returns:
        The augmented batch, same shape and dtype.
    """
    import torch
    import torch.nn.functional as F

    x = _affine(x, gen)
    n = x.shape[0]
    pick = torch.rand(n, generator=gen) < FRACTION

    def where(p: float) -> torch.Tensor:
        return (pick & (torch.rand(n, generator=gen) < p))[:, None, None, None]

    # stroke thickness
    dil3 = F.max_pool2d(x, 3, stride=1, padding=1)
    dil2 = F.max_pool2d(F.pad(x, (1, 0, 1, 0)), 2, stride=1)
    ero = x * 0.5 + 0.5 * -F.max_pool2d(-x, 3, stride=1, padding=1)
    m3, m2, me = where(0.3), where(0.2), where(0.15)
    x = torch.where(m3, dil3, torch.where(m2 & ~m3, dil2, torch.where(me & ~m3 & ~m2, ero, x)))
    # camera / resize blur
    mb = where(0.35)
    x = torch.where(mb, _blur(x, _rand(n, gen, 0.4, 1.2)), x)
    # wobbly strokes
    mel = where(0.3)
    x = torch.where(mel, _elastic(x, gen, _rand(n, gen, 0.0, 1.5)), x)
    # grey ink: level and gamma
    mc = where(0.4)
    gamma = _rand(n, gen, 0.6, 1.6)[:, None, None, None]
    level = _rand(n, gen, 0.55, 1.0)[:, None, None, None]
    x = torch.where(mc, x.clamp(0, 1).pow(gamma) * level, x)
    # clutter: a few faint specks, or a faint line along one edge
    mk = where(0.1)
    specks = (torch.rand(n, 1, 28, 28, generator=gen) < 0.004).to(x.dtype) * _rand(n, gen, 0.3, 0.8)[
        :, None, None, None
    ]
    side = torch.randint(0, 4, (n,), generator=gen)
    edge = torch.zeros_like(x)
    edge[side == 0, :, 0, :] = 1.0
    edge[side == 1, :, -1, :] = 1.0
    edge[side == 2, :, :, 0] = 1.0
    edge[side == 3, :, :, -1] = 1.0
    use_edge = (torch.rand(n, generator=gen) < 0.5)[:, None, None, None]
    clutter = torch.where(use_edge, edge * _rand(n, gen, 0.2, 0.7)[:, None, None, None], specks)
    x = torch.where(mk, torch.maximum(x, clutter), x)
    return x.clamp_(0.0, 1.0)
