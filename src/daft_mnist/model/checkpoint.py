"""Pure PyTorch: checkpoint I/O and building the model on a device.

The network and its preprocessing contract are in :mod:`daft_mnist.model.network` (re-exported
here, where they have always been importable from). Nothing here knows about Daft. The
checkpoint format is a plain ``dict`` saved with :func:`torch.save` and read back with
``torch.load(weights_only=True)``, so loading a checkpoint never runs arbitrary pickled code::

    {
        "format": "daft-mnist",
        "version": 1,
        "state_dict": {...},          # Net's parameters, the tutorial's key names
        "preprocessing": {...},       # Preprocessing.to_dict()
        "metadata": {...},            # free-form str/int/float/list/dict: how it was trained
    }

A bare state dict (such as the tutorial's published ``mnist_cnn.pt``) is accepted too and is
given :data:`TUTORIAL_PREPROCESSING`, the normalization those weights were trained with.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from daft_mnist.data._files import display_path, write_atomically
from daft_mnist.data._options import option_error
from daft_mnist.errors import WeightsError
from daft_mnist.model.network import MNIST_MEAN, MNIST_STD, TUTORIAL_PREPROCESSING, Net, Preprocessing

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "DEVICES",
    "MNIST_MEAN",
    "MNIST_STD",
    "TUTORIAL_PREPROCESSING",
    "Checkpoint",
    "Net",
    "Preprocessing",
    "load_checkpoint",
    "load_model",
    "resolve_device",
    "save_checkpoint",
]


CHECKPOINT_FORMAT = "daft-mnist"
CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: parameters, their preprocessing contract and training metadata."""

    state_dict: dict[str, torch.Tensor]
    preprocessing: Preprocessing
    metadata: dict[str, Any]


def _expected_shapes() -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in _blank_net().state_dict().items()}


def _blank_net() -> Net:
    """A :class:`Net` whose random initialization leaves torch's global RNG as it was (its weights are replaced)."""
    with torch.random.fork_rng(devices=[]):
        return Net()


def _describe(obj: Any) -> str:
    """What a loaded object is, in a few words: ``a dict with keys ['model', 'optimizer']``, ``a list``."""
    if isinstance(obj, dict):
        keys = [repr(k) if not isinstance(k, str) else k for k in list(obj)[:8]]
        more = f", ... ({len(obj)} keys)" if len(obj) > 8 else ""
        return f"a dict with keys {keys}{more}" if obj else "an empty dict"
    if isinstance(obj, torch.Tensor):
        return f"a single tensor of shape {tuple(obj.shape)}"
    return f"a {type(obj).__name__}"


def _is_state_dict_of_net(obj: Any) -> bool:
    expected = _expected_shapes()
    return (
        isinstance(obj, dict)
        and set(obj) == set(expected)
        and all(isinstance(v, torch.Tensor) and tuple(v.shape) == expected[k] for k, v in obj.items())
    )


def _not_a_state_dict(state: Any, source: str) -> WeightsError:
    """The refusal of an object that is not a state dict of tensors: what was found, what is expected, how to fix it."""
    expected = "a state dict of tensors for daft_mnist.model.Net (or a daft-mnist checkpoint)"
    found = _describe(state)
    if isinstance(state, dict):
        wrapped = [k for k, v in state.items() if _is_state_dict_of_net(v)]
        if len(wrapped) == 1:
            key = wrapped[0]
            return WeightsError(
                f"{source}: expected {expected}, got {found} (a training checkpoint?); its {key!r} entry is a state "
                f"dict of the tutorial's Net: re-save it with `torch.save(torch.load(PATH, weights_only=True)"
                f"[{key!r}], 'net.pt')` and pass net.pt"
            )
        if len(wrapped) > 1:
            return WeightsError(
                f"{source}: expected {expected}, got {found}; entries {wrapped} each hold a state dict of the "
                "tutorial's Net: re-save the one you mean with `torch.save(torch.load(PATH, weights_only=True)[KEY], "
                "'net.pt')`"
            )
    return WeightsError(f"{source}: expected {expected}, got {found}")


def _check_state_dict(state: Any, source: str) -> dict[str, torch.Tensor]:
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise _not_a_state_dict(state, source)
    expected = _expected_shapes()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(map(str, set(state) - set(expected)))
    if missing or unexpected:
        raise WeightsError(
            f"{source}: not a checkpoint of the tutorial's Net architecture; "
            f"missing keys {missing}, unexpected keys {unexpected}; expected keys {sorted(expected)}"
        )
    wrong = {k: (tuple(state[k].shape), shape) for k, shape in expected.items() if tuple(state[k].shape) != shape}
    if wrong:
        detail = ", ".join(f"{k}: got {g}, expected {e}" for k, (g, e) in sorted(wrong.items()))
        raise WeightsError(f"{source}: tensor shapes do not match the tutorial's Net ({detail})")
    not_real = {k: str(v.dtype).removeprefix("torch.") for k, v in state.items() if not _is_real_float(v)}
    if not_real:
        detail = ", ".join(f"{k}: {d}" for k, d in sorted(not_real.items()))
        raise WeightsError(
            f"{source}: expected real floating-point tensors (float32, float64, float16 or bfloat16), got {detail}"
        )
    converted = {k: v.to(torch.float32) for k, v in state.items()}
    non_finite = non_finite_tensors(converted)
    if non_finite:
        raise WeightsError(
            f"{source}: weights contain NaN or infinite values (in float32) in {', '.join(non_finite)}; "
            "a model with them predicts nonsense (a diverged training run?); expected finite weights"
        )
    return converted


def _is_real_float(t: torch.Tensor) -> bool:
    return t.is_floating_point() and not t.is_complex()


def non_finite_tensors(state: dict[str, torch.Tensor]) -> list[str]:
    """Names of the tensors holding a NaN or an infinite value, with how many, e.g. ``fc1.weight (3 NaN)``."""
    bad = []
    for k, v in state.items():
        finite = torch.isfinite(v)
        if not bool(finite.all()):
            nan = int(torch.isnan(v).sum())
            inf = int((~finite).sum()) - nan
            parts = [f"{nan} NaN" if nan else "", f"{inf} infinite" if inf else ""]
            bad.append(f"{k} ({', '.join(p for p in parts if p)} of {v.numel()})")
    return bad


def _safetensors_header(data: bytes) -> bool:
    """Whether ``data`` looks like a safetensors file: an 8-byte little-endian header length, then a JSON object."""
    if len(data) < 10:
        return False
    size = int.from_bytes(data[:8], "little")
    return 2 <= size <= len(data) - 8 and data[8:9] == b"{" and data[8 + size - 1 : 8 + size].rstrip() in (b"}", b"")


def _unpickling_detail(exc: BaseException) -> str:
    """The one useful line of torch's weights-only refusal (what it refused), without its advice."""
    text = str(exc)
    for pattern in (
        r"(Trying to load unsupported GLOBAL [^\n]*)",
        r"(Unsupported global: GLOBAL \S+)",
        r"(Unsupported operand \S+)",
    ):
        match = re.search(pattern, text)
        if match:
            return match.group(1).strip().rstrip(".")
    return "the weights-only unpickler refused it"


def load_checkpoint(path: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> Checkpoint:
    """Read a checkpoint from a local file, safely.

    Uses ``torch.load(weights_only=True)``: a file carrying a pickled object other than
    tensors and plain containers is refused and its payload never runs.

    Args:
        path: A daft-mnist checkpoint or a bare ``Net`` state dict (``mnist_cnn.pt``).

    Returns:
        The checkpoint. Bare state dicts get :data:`TUTORIAL_PREPROCESSING`.

    Raises:
        WeightsError: The file is missing or not a regular file, corrupt, unsafe, of another
            architecture, a foreign format (safetensors, a training checkpoint wrapping the
            state dict), or its tensors are not finite real floating-point numbers.
    """
    from daft_mnist.model.weights import check_weights_file, weights_text

    p = Path(weights_text(path))
    source = display_path(str(p))
    check_weights_file(p)  # missing, a directory, a FIFO (never opened), ...
    data = p.read_bytes()
    if _safetensors_header(data):
        raise WeightsError(
            f"{source}: found a safetensors file; expected a PyTorch checkpoint saved with torch.save (a state dict "
            "of daft_mnist.model.Net or a daft-mnist checkpoint); convert it with "
            "`torch.save(safetensors.torch.load_file(PATH), 'net.pt')` and pass net.pt"
        )
    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = _unpickling_detail(exc)
        what = (
            "the file holds pickled objects other than tensors and plain containers"
            if "GLOBAL" in detail
            else "not a weights-only PyTorch checkpoint: corrupt, or pickled data of an unsupported kind"
        )
        raise WeightsError(
            f"{source}: refused to load: {what} ({detail}); expected a weights_only checkpoint (a state dict "
            "saved with torch.save). Nothing in the file was executed."
        ) from None
    except Exception as exc:  # truncated zip, random bytes, ...
        raise WeightsError(f"{source}: not a readable PyTorch checkpoint ({type(exc).__name__}: {exc})") from None

    if isinstance(obj, dict) and obj.get("format") == CHECKPOINT_FORMAT:
        version = obj.get("version")
        if version != CHECKPOINT_VERSION:
            raise WeightsError(
                f"{source}: checkpoint version {version!r} is not supported (expected {CHECKPOINT_VERSION})"
            )
        state = _check_state_dict(obj.get("state_dict"), source)
        prep_raw = obj.get("preprocessing")
        if not isinstance(prep_raw, dict):
            raise WeightsError(f"{source}: checkpoint has no 'preprocessing' dict")
        try:
            prep = Preprocessing.from_dict(prep_raw)
        except ValueError as exc:
            raise WeightsError(f"{source}: invalid preprocessing: {exc}") from None
        meta = obj.get("metadata") or {}
        if not isinstance(meta, dict):
            raise WeightsError(f"{source}: checkpoint 'metadata' must be a dict, got {type(meta).__name__}")
        return Checkpoint(state, prep, meta)
    return Checkpoint(_check_state_dict(obj, source), TUTORIAL_PREPROCESSING, {})


def save_checkpoint(
    path: str | os.PathLike[str],
    model: Net,
    preprocessing: Preprocessing,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Write a daft-mnist checkpoint atomically (temp file, then rename).

    Raises:
        WeightsError: A parameter holds a NaN or an infinite value (nothing is written).
    """
    p = Path(path)
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    non_finite = non_finite_tensors(state)
    if non_finite:
        raise WeightsError(
            f"refusing to write {display_path(str(p))}: the weights contain NaN or infinite values in "
            f"{', '.join(non_finite)}"
        )
    p.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "state_dict": state,
        "preprocessing": preprocessing.to_dict(),
        # Plain JSON types only (str subclasses such as torch's TorchVersion would be pickled
        # as globals that weights_only loading refuses).
        "metadata": json.loads(json.dumps(dict(metadata or {}), default=str)),
    }
    write_atomically(p, lambda out: torch.save(payload, out))


DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
"""The device strings accepted by :func:`resolve_device` (``N``: a CUDA device index)."""

_DEVICE_RE = re.compile(r"^(auto|cpu|cuda|mps)(?::(\d+))?$")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: CUDA when available, else CPU; ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``.

    Raises:
        ValueError: An unknown device string (the message names the accepted ones), or a
            device that is not available on this machine.
        TypeError: ``device`` is neither a string nor a :class:`torch.device`.
    """
    accepted = ", ".join(repr(d) for d in DEVICES)
    if isinstance(device, torch.device):
        dev = device
    elif isinstance(device, str):
        match = _DEVICE_RE.match(device)
        if match is None or (match.group(2) is not None and match.group(1) != "cuda"):
            raise ValueError(f"unknown device {device!r}; expected one of {accepted}")
        if device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        dev = torch.device(device)
    else:
        raise option_error("device", f"a str ({accepted}) or a torch.device", device)
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unsupported device {str(dev)!r}; expected one of {accepted}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(dev)!r} requested but CUDA is not available (torch {torch.__version__})")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {str(dev)!r} requested but this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {str(dev)!r} requested but MPS is not available")
    return dev


def load_model(
    weights: str | bytes | os.PathLike[str] | os.PathLike[bytes] | None = None,
    *,
    sha256: str | None = None,
    device: str | torch.device = "auto",
) -> Net:
    """Build :class:`Net`, load weights into it and put it in eval mode.

    Args:
        weights: ``None`` for the bundled weights, a local path or a remote URL (see
            :func:`daft_mnist.model.weights.resolve_weights`).
        sha256: Expected SHA-256 of the weights file (required for remote URLs).
        device: ``"auto"`` (default: CUDA when present, else CPU, as :class:`~daft_mnist.Classifier`),
            ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...

    Returns:
        The model in eval mode with ``requires_grad`` off. Its preprocessing contract is
        available as ``model.preprocessing``.
    """
    from daft_mnist.model.weights import resolve_weights

    dev = resolve_device(device)  # an unknown device fails before any file is read
    ckpt = load_checkpoint(resolve_weights(weights, sha256=sha256))
    model = _blank_net()
    model.load_state_dict(ckpt.state_dict)
    model.preprocessing = ckpt.preprocessing  # plain attribute: not part of the state dict
    model.metadata = ckpt.metadata
    model.requires_grad_(False)
    return model.to(dev).eval()
