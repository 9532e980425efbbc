"""FP16 ONNX: weights and arithmetic in float16, inputs and outputs kept float32 (or float16 on request).

Keeping float32 I/O (``keep_io_types``) means every runtime feeds the same preprocessed float32 batch to the
fp32 and fp16 files; the Cast nodes at both ends cost nothing measurable. TensorRT 11 builds FP16 engines
only from such a file (strongly typed networks), so this is also the input of the FP16 engine build.
The conversion is onnxconverter-common's ``convert_float_to_float16`` (not a hand-edited graph).
``keep_io_types=False`` gives the float16-I/O file that consumers feeding float16 (YOLOv5's ``--half``) need.
"""

from __future__ import annotations

import warnings
from typing import Any

from yolocls.errors import ExportError


def convert_to_fp16(model: Any, keep_io_types: bool = True) -> Any:
    """Return an FP16 copy of an fp32 ``onnx.ModelProto``; its inputs/outputs stay float32 with ``keep_io_types``.

    Raises:
        ExportError: onnxconverter-common is missing or the conversion failed.
    """
    try:
        from onnxconverter_common import float16
    except ImportError as e:
        raise ExportError(f"--half needs onnxconverter-common ({e}); pip install onnxconverter-common") from None
    try:
        with warnings.catch_warnings():
            # It warns about fp32 constants that fall outside the fp16 range and are clamped: expected for
            # e.g. -inf masks, and verification catches any real damage.
            warnings.simplefilter("ignore", UserWarning)
            return float16.convert_float_to_float16(model, keep_io_types=keep_io_types)
    except Exception as e:  # noqa: BLE001 - the converter raises assorted types
        raise ExportError(f"FP16 conversion failed ({type(e).__name__}: {e}); export without --half") from None
