"""The engine sidecar ``<engine>.json``: writing it, and refusing an engine built for another TensorRT or GPU.

A serialized TensorRT engine only runs with the TensorRT version and on the GPU (compute capability) it was
built with, and it carries no class names or preprocessing. ``yolocls build-engine`` therefore writes the
engine raw (so ``trtexec`` and Triton load it unchanged) and puts :class:`~yolocls.spec.metadata.ModelMetadata`
beside it, with the typed :class:`~yolocls.spec.metadata.EngineFacts` (``ModelMetadata.engine``) as these keys:

``tensorrt_version`` ("10.3.0"), ``gpu_name``, ``compute_capability`` ("8.7"), ``precision``
(fp32|fp16|int8), ``profile`` ({min, opt, max} batch), ``builder_flags``, ``strongly_typed``,
``onnx_sha256``, ``engine_sha256``, ``dla`` ({core, gpu_fallback} or null), ``build_seconds``.

Reading it is the spec's (:func:`yolocls.spec.metadata.read_sidecar`, re-exported here). The runtime refuses, with
a one-line message and a rebuild hint, an engine built for another TensorRT version or GPU, or one whose bytes no
longer match the sidecar.
"""

from __future__ import annotations

import os
from pathlib import Path

from yolocls.errors import EngineMismatchError, MetadataError
from yolocls.spec.metadata import (
    ENGINE_REQUIRED,
    PRECISIONS,
    SIDECAR_SUFFIX,
    EngineFacts,
    ModelMetadata,
    file_sha256,
    parse_trt_version,
    read_sidecar,
    rebuild_hint,
    sidecar_path,
)
from yolocls.utils.files import atomic_write_text

__all__ = ["PRECISIONS", "REQUIRED_KEYS", "SIDECAR_SUFFIX", "check_engine_compatible", "check_tensorrt_version",
           "engine_facts", "file_sha256", "read_sidecar", "sidecar_path", "write_sidecar"]

REQUIRED_KEYS = ENGINE_REQUIRED


def engine_facts(meta: ModelMetadata, where: str = "sidecar") -> EngineFacts:
    """The typed TensorRT facts of an engine's metadata, and its class names present.

    Raises:
        MetadataError: the metadata holds no engine facts (not a sidecar) or no class names.
    """
    if meta.engine is None:
        raise MetadataError(f"{where} lacks {', '.join(ENGINE_REQUIRED)}; it was not written by yolocls "
                            "build-engine, rebuild the engine")
    if not meta.names:
        raise MetadataError(f"{where} has no class names; rebuild the engine from an ONNX exported by yolocls")
    return meta.engine


def write_sidecar(engine: str | os.PathLike[str], meta: ModelMetadata) -> Path:
    """Check ``meta`` (engine facts and names) and write it atomically to :func:`sidecar_path` of ``engine``."""
    engine_facts(meta, where="engine metadata")
    path = sidecar_path(engine)
    atomic_write_text(path, meta.to_json() + "\n")
    return path


def _norm_gpu(name: str) -> str:
    n = " ".join(name.split()).casefold()
    return n[len("nvidia "):] if n.startswith("nvidia ") else n


def _norm_cc(cc: str | tuple[int, int]) -> str:
    if isinstance(cc, tuple):
        return f"{cc[0]}.{cc[1]}"
    return str(cc).strip()


def check_tensorrt_version(sidecar: ModelMetadata, trt_version: str, engine: str | os.PathLike[str] = "<engine>") -> None:
    """Refuse an engine built with another TensorRT version (major.minor.patch compared).

    Raises:
        EngineMismatchError: the versions differ.
    """
    built_v, run_v = engine_facts(sidecar).tensorrt_version, str(trt_version)
    if parse_trt_version(built_v) != parse_trt_version(run_v):
        raise EngineMismatchError(
            f"engine {os.fspath(engine)} was built with TensorRT {built_v} but TensorRT {run_v} is running; "
            f"engines only load in the TensorRT version that built them, {rebuild_hint(engine)}"
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
    facts = engine_facts(sidecar)
    check_tensorrt_version(sidecar, trt_version, engine)
    built_cc, run_cc = _norm_cc(facts.compute_capability), _norm_cc(compute_capability)
    built_gpu = facts.gpu_name
    if built_cc != run_cc or _norm_gpu(built_gpu) != _norm_gpu(gpu_name):
        raise EngineMismatchError(
            f"engine {os.fspath(engine)} was built for {built_gpu} (compute capability {built_cc}) but this GPU is "
            f"{gpu_name} ({run_cc}); engines are tuned per GPU, {rebuild_hint(engine)}"
        )
