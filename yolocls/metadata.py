"""Moved to :mod:`yolocls.spec.metadata` (the spec's leaf package); this module re-exports it for old imports.

Kept because some twenty modules and tests import ``yolocls.metadata``; new code imports ``yolocls.spec``.
"""

from __future__ import annotations

from yolocls.spec.metadata import (
    INPUT_DTYPES,
    MAX_BATCH,
    MAX_CLASSES,
    MAX_IMGSZ,
    MAX_JSON_DEPTH,
    MAX_METADATA_BYTES,
    MAX_NAME_CHARS,
    METADATA_KEY,
    METADATA_SCHEMA,
    OUTPUT_KINDS,
    EngineFacts,
    ModelMetadata,
    check_imgsz,
    check_names,
    check_preprocess,
    class_names,
    parse_json,
)

__all__ = [
    "INPUT_DTYPES", "MAX_BATCH", "MAX_CLASSES", "MAX_IMGSZ", "MAX_JSON_DEPTH", "MAX_METADATA_BYTES", "MAX_NAME_CHARS",
    "METADATA_KEY", "METADATA_SCHEMA", "OUTPUT_KINDS", "EngineFacts", "ModelMetadata", "check_imgsz", "check_names",
    "check_preprocess", "class_names", "parse_json",
]
