"""Triton Inference Server model repository for an exported classifier.

Layout written::

    <repo>/<name>/config.pbtxt     platform, max_batch_size, input/output names, dtypes and dims,
                                   dynamic_batching (dynamic-batch models), instance_group, yolocls metadata
    <repo>/<name>/labels.txt       class names, one per line (Triton's classification extension)
    <repo>/<name>/<version>/model.onnx   (platform onnxruntime_onnx)  or  model.plan  (tensorrt_plan)

Tensor types follow the metadata (``TYPE_FP16`` for a float16-I/O export). The config's ``parameters`` state what
``output0`` holds (``output``: ``logits`` or ``probs``; Triton's classification extension reports these values as
scores) and what the input must be (``normalized_in_graph``: ``true`` = RGB scaled to 0-1; ``false`` = mean/std
normalised as in the ``yolocls`` parameter's ``preprocess``).

A dynamic-batch model gets ``max_batch_size`` > 0 and dims without the batch axis (Triton adds it); a fixed-batch
model gets ``max_batch_size: 0`` and its full shape. Triton's own schema (``model_config_pb2.ModelConfig`` of
tritonclient, ``google.protobuf.text_format``) reads the config back.

The model's metadata comes from the one reader (:func:`yolocls.spec.metadata.read_model_info`): an ONNX exported by
yolocls or by YOLOv5 itself (``names``/``stride`` metadata, static input shape), or an engine's sidecar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from yolocls.errors import InputError
from yolocls.spec.metadata import ModelMetadata, read_model_info
from yolocls.utils.files import atomic_write_bytes, atomic_write_text

PLATFORMS = {"onnxruntime_onnx": "model.onnx", "tensorrt_plan": "model.plan"}
_NAME_OK = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass
class TritonExport:
    """Paths written by :func:`export_triton`."""

    repo: Path
    model_dir: Path
    config: Path
    model_file: Path
    labels: Path
    name: str
    platform: str
    max_batch_size: int


def _pb_string(s: str) -> str:
    """A protobuf text-format string literal (C escapes; control characters as octal)."""
    out = []
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\{ord(ch):03o}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def render_config(meta: ModelMetadata, name: str, platform: str, max_batch_size: int, num_classes: int,
                  instance_count: int = 1, instance_kind: str = "KIND_AUTO") -> str:
    """The text of config.pbtxt (see the module docstring for the batching rules)."""
    s = meta.imgsz
    dtype = "TYPE_FP16" if meta.input_dtype == "float16" else "TYPE_FP32"
    dims_in = [3, s, s] if max_batch_size > 0 else [meta.batch, 3, s, s]
    dims_out = [num_classes] if max_batch_size > 0 else [meta.batch, num_classes]
    lines = [
        f"name: {_pb_string(name)}",
        f"platform: {_pb_string(platform)}",
        f"max_batch_size: {max_batch_size}",
        "input [",
        "  {",
        f"    name: {_pb_string(meta.input_name)}",
        f"    data_type: {dtype}",
        f"    dims: [ {', '.join(map(str, dims_in))} ]",
        "  }",
        "]",
        "output [",
        "  {",
        f"    name: {_pb_string(meta.output_name)}",
        f"    data_type: {dtype}",
        f"    dims: [ {', '.join(map(str, dims_out))} ]",
        '    label_filename: "labels.txt"',
        "  }",
        "]",
    ]
    if max_batch_size > 0:
        lines += ["dynamic_batching {", "}"]
    lines += [
        "instance_group [",
        "  {",
        f"    count: {instance_count}",
        f"    kind: {instance_kind}",
        "  }",
        "]",
    ]
    params = {"output": meta.output, "normalized_in_graph": "true" if meta.normalized_in_graph else "false",
              "yolocls": meta.to_json()}
    for key, value in params.items():
        lines += ["parameters {", f"  key: {_pb_string(key)}", "  value {", f"    string_value: {_pb_string(value)}",
                  "  }", "}"]
    return "\n".join(lines) + "\n"


def export_triton(
    onnx_path: str | Path,
    repo_dir: str | Path,
    model_name: str | None = None,
    max_batch: int = 8,
    platform: str | None = None,
    instance_count: int = 1,
    version: int = 1,
) -> TritonExport:
    """Write a Triton model repository entry for an exported model.

    Args:
        onnx_path: a ``.onnx`` file from :func:`~yolocls.export.onnx.export_onnx` or YOLOv5's export (platform
            ``onnxruntime_onnx``)
            or a TensorRT ``.engine``/``.plan`` with its ``.json`` sidecar (platform ``tensorrt_plan``).
        repo_dir: the model repository folder (created if missing; other models in it are left alone).
        model_name: Triton model name (default: the metadata's model name).
        max_batch: ``max_batch_size`` for a dynamic-batch model (capped by an engine's profile).
        platform: ``onnxruntime_onnx`` | ``tensorrt_plan`` (default: from the file suffix).
        instance_count: model instances Triton runs.
        version: version sub-folder.
    Returns:
        :class:`TritonExport` with the written paths.
    Raises:
        InputError: bad options or a file that does not suit the platform. MetadataError: no metadata (neither
        yolocls' nor YOLOv5's), or an engine without a valid sidecar.
    """
    src = Path(onnx_path)
    if not src.is_file():
        raise FileNotFoundError(2, "No such file", str(src))
    is_engine = src.suffix.lower() in (".engine", ".plan")
    if platform is None:
        platform = "tensorrt_plan" if is_engine else "onnxruntime_onnx"
    if platform not in PLATFORMS:
        raise InputError(f"unknown Triton platform {platform!r}; choose from {', '.join(PLATFORMS)}")
    if (platform == "tensorrt_plan") != is_engine:
        want = ".engine/.plan" if platform == "tensorrt_plan" else ".onnx"
        raise InputError(f"platform {platform} needs a {want} file, got {src.name}")
    for label, v, lo in (("max_batch", max_batch, 1), ("instance_count", instance_count, 1), ("version", version, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise InputError(f"{label} must be an integer >= {lo}, got {v!r}")

    meta = read_model_info(src).metadata  # ours or YOLOv5's ONNX; an engine's typed sidecar
    if meta.engine is not None and meta.dynamic:
        max_batch = min(max_batch, meta.engine.profile.max)
    name = model_name or meta.model or src.stem
    if not _NAME_OK.match(name):
        raise InputError(f"Triton model name {name!r} may only use letters, digits, '_', '-' and '.'")
    max_batch_size = max_batch if meta.dynamic else 0

    repo = Path(repo_dir)
    model_dir = repo / name
    model_file = model_dir / str(version) / PLATFORMS[platform]
    atomic_write_bytes(model_file, src.read_bytes())
    labels = model_dir / "labels.txt"
    atomic_write_text(labels, "".join(f"{n}\n" for n in meta.names))
    config = model_dir / "config.pbtxt"
    kind = "KIND_GPU" if platform == "tensorrt_plan" else "KIND_AUTO"
    atomic_write_text(config, render_config(meta, name, platform, max_batch_size, meta.num_classes,
                                            instance_count, kind))
    return TritonExport(repo=repo, model_dir=model_dir, config=config, model_file=model_file, labels=labels,
                        name=name, platform=platform, max_batch_size=max_batch_size)
