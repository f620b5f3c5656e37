"""The old import path of :mod:`daft_mnist.model.quantize`, kept so that documented imports work."""

from daft_mnist.model.quantize import CALIBRATION_KEY as CALIBRATION_KEY
from daft_mnist.model.quantize import INT8_ENGINES as INT8_ENGINES
from daft_mnist.model.quantize import Int8Calibration as Int8Calibration
from daft_mnist.model.quantize import Int8Net as Int8Net
from daft_mnist.model.quantize import calibrate_int8 as calibrate_int8
from daft_mnist.model.quantize import int8_unavailable_reason as int8_unavailable_reason

__all__ = ["CALIBRATION_KEY", "INT8_ENGINES", "Int8Calibration", "Int8Net", "calibrate_int8", "int8_unavailable_reason"]
