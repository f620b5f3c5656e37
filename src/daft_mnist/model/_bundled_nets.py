"""Loading the small networks bundled in ``model/bundled/`` beside the digit classifier (no Daft here)."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any

__all__ = ["load_bundled_net"]


def load_bundled_net(file: str, build: Callable[[], Any]) -> tuple[Any, dict[str, Any]]:
    """The network ``build()`` makes, with the weights of ``model/bundled/<file>``, in eval mode,
    and the checkpoint's metadata. torch is imported here."""
    import torch

    path = resources.files("daft_mnist.model").joinpath("bundled", file)
    with resources.as_file(path) as local:
        state = torch.load(local, map_location="cpu", weights_only=True)
    net = build()
    net.load_state_dict(state["state_dict"])
    net.eval()
    return net, dict(state.get("metadata", {}))
