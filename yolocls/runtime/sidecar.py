"""The engine sidecar ``<engine>.json``: the model's metadata plus the facts a TensorRT engine is bound to.

A serialized TensorRT engine only runs with the TensorRT version and on the GPU (compute capability) it was
built with, and it carries no class names or preprocessing. ``yolocls build-engine`` therefore writes the
engine raw (so ``trtexec`` and Triton load it unchanged) and puts :class:`~yolocls.metadata.ModelMetadata`
beside it, with these keys added (``ModelMetadata.extra``):

``tensorrt_version`` ("10.3.0"), ``gpu_name``, ``compute_capability`` ("8.7"), ``precision``
(fp32|fp16|int8), ``profile`` ({min, opt, max} batch), ``builder_flags``, ``strongly_typed``,
``onnx_sha256``, ``engine_sha256``, ``dla`` ({core, gpu_fallback} or null), ``build_seconds``.

The runtime reads the sidecar first and refuses, with a one-line message and a rebuild hint, an engine built
for another TensorRT version or GPU, or one whose bytes no longer match the sidecar.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from yolocls.errors import EngineMismatchError, MetadataError
from yolocls.metadata import ModelMetadata
from yolocls.utils.files import atomic_write_text

SIDECAR_SUFFIX = ".json"
#: Keys every engine sidecar must carry besides the ModelMetadata fields.
REQUIRED_KEYS = ("tensorrt_version", "gpu_name", "compute_capability", "precision", "profile", "engine_sha256")
PRECISIONS = ("fp32", "fp16", "int8")


def sidecar_path(engine: str | os.PathLike[str]) -> Path:
    """``model.engine`` -> ``model.engine.json`` (the suffix is appended, so ``.plan`` engines work too)."""
    p = Path(engine)
    return p.with_name(p.name + SIDECAR_SUFFIX)


def file_sha256(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _rebuild_hint(engine: str | os.PathLike[str]) -> str:
    return f"rebuild it on this machine: yolocls build-engine --onnx <model.onnx> --output {os.fspath(engine)}"


def validate_sidecar(meta: ModelMetadata, where: str = "sidecar") -> dict[str, Any]:
    """Check that ``meta.extra`` holds well-formed TensorRT facts; return them.

    Raises:
        MetadataError: a required key is missing or has the wrong type.
    """
    extra = meta.extra
    missing = [k for k in REQUIRED_KEYS if k not in extra]
    if missing:
        raise MetadataError(f"{where} lacks {', '.join(missing)}; it was not written by yolocls build-engine, rebuild the engine")
    if extra["precision"] not in PRECISIONS:
        raise MetadataError(f"{where}: precision {extra['precision']!r} is not one of {', '.join(PRECISIONS)}")
    prof = extra["profile"]
    if not (isinstance(prof, dict) and all(isinstance(prof.get(k), int) and prof[k] >= 1 for k in ("min", "opt", "max"))
            and prof["min"] <= prof["opt"] <= prof["max"]):
        raise MetadataError(f"{where}: profile must be {{min, opt, max}} batch sizes with 1 <= min <= opt <= max, got {prof!r}")
    for k in ("tensorrt_version", "gpu_name", "compute_capability", "engine_sha256"):
        if not isinstance(extra[k], str) or not extra[k]:
            raise MetadataError(f"{where}: {k} must be a non-empty string, got {extra[k]!r}")
    if not meta.names:
        raise MetadataError(f"{where} has no class names; rebuild the engine from an ONNX exported by yolocls")
    return dict(extra)


def write_sidecar(engine: str | os.PathLike[str], meta: ModelMetadata) -> Path:
    """Validate ``meta`` and write it atomically to :func:`sidecar_path` of ``engine``; return that path."""
    validate_sidecar(meta, where="engine metadata")
    path = sidecar_path(engine)
    atomic_write_text(path, meta.to_json() + "\n")
    return path


def read_sidecar(engine: str | os.PathLike[str], check_hash: bool = True) -> ModelMetadata:
    """Read and validate the sidecar of ``engine``.

    Args:
        engine: path of the serialized engine (``.engine`` / ``.plan``).
        check_hash: also check that the engine file's sha256 is the one the sidecar was written for.
    Raises:
        MetadataError: the sidecar is missing, not JSON, incomplete, or belongs to other engine bytes.
    """
    path = sidecar_path(engine)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MetadataError(
            f"engine metadata {path} not found (class names and preprocessing live there); "
            f"build engines with yolocls build-engine, which writes it"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise MetadataError(f"cannot read engine metadata {path}: {e}") from None
    meta = ModelMetadata.from_json(text)
    validate_sidecar(meta, where=str(path))
    if check_hash and Path(engine).is_file():
        actual = file_sha256(engine)
        if actual != meta.extra["engine_sha256"]:
            raise MetadataError(
                f"{path} was written for other engine bytes (sha256 differs from {os.fspath(engine)}); "
                f"{_rebuild_hint(engine)}"
            )
    return meta


def _norm_gpu(name: str) -> str:
    n = " ".join(name.split()).casefold()
    return n[len("nvidia "):] if n.startswith("nvidia ") else n


def _norm_version(v: str) -> tuple[int, ...]:
    parts = []
    for p in str(v).split(".")[:3]:
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def _norm_cc(cc: str | tuple[int, int]) -> str:
    if isinstance(cc, tuple):
        return f"{cc[0]}.{cc[1]}"
    return str(cc).strip()


def check_tensorrt_version(sidecar: ModelMetadata, trt_version: str, engine: str | os.PathLike[str] = "<engine>") -> None:
    """Refuse an engine built with another TensorRT version (major.minor.patch compared).

    Raises:
        EngineMismatchError: the versions differ.
    """
    built_v, run_v = str(validate_sidecar(sidecar)["tensorrt_version"]), str(trt_version)
    if _norm_version(built_v) != _norm_version(run_v):
        raise EngineMismatchError(
            f"engine {os.fspath(engine)} was built with TensorRT {built_v} but TensorRT {run_v} is running; "
            f"engines only load in the TensorRT version that built them, {_rebuild_hint(engine)}"
        )


def check_engine_compatible(
    sidecar: ModelMetadata,
    trt_version: str,
    gpu_name: str,
    compute_capability: str | tuple[int, int],
    engine: str | os.PathLike[str] = "<engine>",
) -> None:
    """Refuse an engine built for another TensorRT version (major.minor.patch) or another GPU.

    TensorRT itself refuses such engines at deserialization with a long log message (or, across GPUs of one
    architecture, runs them with a warning and possibly wrong tactics); this gives the reason in one line.

    Raises:
        EngineMismatchError: TensorRT version, compute capability or GPU name differ.
    """
    extra = validate_sidecar(sidecar)
    check_tensorrt_version(sidecar, trt_version, engine)
    built_cc, run_cc = _norm_cc(extra["compute_capability"]), _norm_cc(compute_capability)
    built_gpu = str(extra["gpu_name"])
    if built_cc != run_cc or _norm_gpu(built_gpu) != _norm_gpu(gpu_name):
        raise EngineMismatchError(
            f"engine {os.fspath(engine)} was built for {built_gpu} (compute capability {built_cc}) but this GPU is "
            f"{gpu_name} ({run_cc}); engines are tuned per GPU, {_rebuild_hint(engine)}"
        )
