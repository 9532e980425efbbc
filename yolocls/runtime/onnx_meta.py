"""Moved to :mod:`yolocls.spec.onnx` (the protobuf scan) and :mod:`yolocls.spec.metadata` (metadata from it).

Re-exported here for old imports (tests and the fuzzing script); new code imports ``yolocls.spec``.
"""

from __future__ import annotations

from yolocls.spec.metadata import (
    check_interface,
    metadata_from_props,
    parse_yolov5_names,
    read_model_info,
    read_onnx_metadata,
)
from yolocls.spec.onnx import (
    ELEM_TYPES,
    FLOAT16,
    MAX_GRAPH_IO,
    MAX_NAME_BYTES,
    MAX_PROPS,
    MAX_PROPS_BYTES,
    MAX_RANK,
    Dim,
    OnnxInfo,
    ValueInfo,
    parse_onnx_bytes,
    read_onnx_info,
)

__all__ = [
    "ELEM_TYPES", "FLOAT16", "MAX_GRAPH_IO", "MAX_NAME_BYTES", "MAX_PROPS", "MAX_PROPS_BYTES", "MAX_RANK", "Dim",
    "OnnxInfo", "ValueInfo", "check_interface", "metadata_from_props", "parse_onnx_bytes", "parse_yolov5_names",
    "read_model_info", "read_onnx_info", "read_onnx_metadata",
]
