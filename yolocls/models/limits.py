"""Resource limits on checkpoints read from files (``load_model``, ``read_checkpoint``, the YOLOv5 importer).

A checkpoint is untrusted input: every size it declares is checked against these numbers before anything is
allocated or built, and a file over a limit is one :class:`~yolocls.errors.CheckpointError` line naming the limit.
The numbers leave 10x or more room over the largest real file (resnet101 / efficientnet_b3 / yolov5x-cls with EMA and
optimizer state; ``tests/test_hostile_checkpoints.py`` checks the room), and keep a hostile file's cost near its own
size: reading any file takes at most a few times its size in memory (plus ~350 MB) and a few seconds.

Class-name and image-size limits are shared with exported models (:mod:`yolocls.metadata`), so a checkpoint that
loads also exports.
"""

from __future__ import annotations

from yolocls.metadata import MAX_CLASSES, MAX_IMGSZ, MAX_NAME_CHARS

# -- the zip container (torch.save's format) -------------------------------------------------------------------------
#: entries in the archive (one per tensor storage; yolov5x-cls has ~350)
MAX_ZIP_ENTRIES = 100_000
#: bytes of the zip's central directory (parsed before anything else; ~100 bytes per entry)
MAX_ZIP_DIRECTORY_BYTES = 16 * 2**20
#: the entries' declared sizes together may not exceed the file's size (times this): entries never overlap, so a
#: file cannot make one payload count twice (1,000 entries over one blob was 4.4 GB)
MAX_DECLARED_BYTES_PER_FILE_BYTE = 1

# -- the pickle program (data.pkl) ----------------------------------------------------------------------------------
#: size of data.pkl (resnet101 with EMA and optimizer state: 166 KB)
MAX_PICKLE_BYTES = 64 * 2**20
#: opcodes executed (official yolov5n-cls: 19k; resnet101 with EMA and optimizer state: 51k). The costliest opcode
#: (an empty set) takes ~350 bytes, so this also bounds the pickle's memory: ~350 MB and ~4 s at worst
MAX_PICKLE_OPS = 1_000_000
#: nesting of containers (tuple in list in dict ...; real files: < 30). Keeps recursive code (hash, repr, ==,
#: deepcopy) far from Python's recursion limit and C stack overflows (hashing a 10^6-deep tuple is a SIGSEGV)
MAX_PICKLE_NESTING = 100
#: dimensions of one tensor
MAX_TENSOR_DIMS = 16

# -- the module graph of whole-object (YOLOv5) checkpoints ----------------------------------------------------------
#: modules in one pickled model (yolov5x-cls: 338, efficientnet_b3: 533)
MAX_MODULES = 20_000
#: nesting of submodules (real models: < 10)
MAX_MODULE_DEPTH = 32
#: characters of one module / parameter name (one dotted component, ASCII letters, digits, underscore)
MAX_STATE_NAME_CHARS = 128

# -- what the file may ask us to build ------------------------------------------------------------------------------
#: classifier outputs (same limit as the class names of exported models)
MAX_NUM_CLASSES = MAX_CLASSES
#: characters of a zoo model name in a checkpoint's config
MAX_MODEL_NAME_CHARS = 64

__all__ = [
    "MAX_CLASSES",
    "MAX_DECLARED_BYTES_PER_FILE_BYTE",
    "MAX_IMGSZ",
    "MAX_MODEL_NAME_CHARS",
    "MAX_MODULES",
    "MAX_MODULE_DEPTH",
    "MAX_NAME_CHARS",
    "MAX_NUM_CLASSES",
    "MAX_PICKLE_BYTES",
    "MAX_PICKLE_NESTING",
    "MAX_PICKLE_OPS",
    "MAX_STATE_NAME_CHARS",
    "MAX_TENSOR_DIMS",
    "MAX_ZIP_DIRECTORY_BYTES",
    "MAX_ZIP_ENTRIES",
]
