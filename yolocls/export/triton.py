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
model gets ``max_batch_size: 0`` and its full shape. :func:`parse_pbtxt` reads the config back (tests, ``info``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yolocls.errors import InputError, MetadataError
from yolocls.metadata import ModelMetadata
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


def _engine_metadata(path: Path) -> ModelMetadata:
    sidecar = path.with_name(path.name + ".json")
    if not sidecar.is_file():
        raise MetadataError(f"{path.name} has no sidecar {sidecar.name}; rebuild the engine with `yolocls build_engine`")
    return ModelMetadata.from_json(sidecar.read_text(encoding="utf-8"))


def _engine_max_batch(meta: ModelMetadata) -> int | None:
    """The largest batch of a TensorRT engine's optimisation profile, if its sidecar says."""
    for key in ("max_batch", "batch_max"):
        if isinstance(meta.extra.get(key), int):
            return int(meta.extra[key])
    prof = meta.extra.get("batch_profile") or meta.extra.get("profile")
    if isinstance(prof, (list, tuple)) and prof and all(isinstance(v, int) for v in prof):
        return int(prof[-1])
    if isinstance(prof, dict) and isinstance(prof.get("max"), (int, list)):
        m = prof["max"]
        return int(m[0] if isinstance(m, list) else m)
    return None


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
        onnx_path: a ``.onnx`` file from :func:`~yolocls.export.onnx.export_onnx` (platform ``onnxruntime_onnx``)
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
        InputError: bad options or a file that does not suit the platform. MetadataError: no yolocls metadata.
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

    if is_engine:
        meta = _engine_metadata(src)
        engine_max = _engine_max_batch(meta)
        if meta.dynamic and engine_max is not None:
            max_batch = min(max_batch, engine_max)
    else:
        from yolocls.export.onnx import read_metadata

        meta = read_metadata(src)
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


# --- reading config.pbtxt back ------------------------------------------------------------------------------------

_TOKEN = re.compile(r'\s+|#[^\n]*|"(?:[^"\\]|\\.)*"|[{}\[\]:,;<>]|[^\s{}\[\]:,;<>"#]+')
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "'": "'", "\\": "\\"}


def _unquote(tok: str) -> str:
    body, out, i = tok[1:-1], [], 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            n = body[i + 1]
            if n in _ESCAPES:
                out.append(_ESCAPES[n])
                i += 2
                continue
            m = re.match(r"[0-7]{1,3}", body[i + 1 :])
            if m:
                out.append(chr(int(m.group(0), 8)))
                i += 1 + len(m.group(0))
                continue
        out.append(c)
        i += 1
    return "".join(out)


def _scalar(tok: str) -> Any:
    if tok.startswith('"'):
        return _unquote(tok)
    if tok in ("true", "false"):
        return tok == "true"
    for conv in (int, float):
        try:
            return conv(tok)
        except ValueError:
            pass
    return tok  # an enum value such as TYPE_FP32


def parse_pbtxt(text: str) -> dict[str, Any]:
    """Parse protobuf text format (as in Triton's config.pbtxt) into nested dicts.

    A field written once maps to its value; a repeated field or one written with ``[ ... ]`` maps to a list.
    Enum values stay strings (``"TYPE_FP32"``); numbers become int/float.
    """
    toks = [t for t in _TOKEN.findall(text) if t.strip() and not t.startswith("#")]
    pos = 0

    def peek() -> str | None:
        return toks[pos] if pos < len(toks) else None

    def take() -> str:
        nonlocal pos
        if pos >= len(toks):
            raise InputError("config.pbtxt ends in the middle of a field")
        pos += 1
        return toks[pos - 1]

    def value() -> Any:
        t = take()
        if t in ("{", "<"):
            return message("}" if t == "{" else ">")
        if t == "[":
            items: list[Any] = []
            while peek() != "]":
                items.append(value())
                if peek() == ",":
                    take()
            take()
            return items
        if t.startswith('"'):  # adjacent string literals concatenate
            s = _scalar(t)
            while (p := peek()) is not None and p.startswith('"'):
                s += _scalar(take())
            return s
        return _scalar(t)

    def message(end: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while peek() != end:
            key = take()
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
                raise InputError(f"config.pbtxt: expected a field name, got {key!r}")
            if peek() == ":":
                take()
            v = value()
            if peek() in (",", ";"):
                take()
            if key in out:
                prev = out[key]
                out[key] = (prev if isinstance(prev, list) else [prev]) + (v if isinstance(v, list) else [v])
            else:
                out[key] = v
        if end is not None:
            take()
        return out

    return message(None)


def read_triton_metadata(config_path: str | Path) -> ModelMetadata:
    """The yolocls metadata stored in a config.pbtxt written by :func:`export_triton`."""
    cfg = parse_pbtxt(Path(config_path).read_text(encoding="utf-8"))
    params = cfg.get("parameters", [])
    for p in params if isinstance(params, list) else [params]:
        if p.get("key") == "yolocls":
            return ModelMetadata.from_dict(json.loads(p["value"]["string_value"]))
    raise MetadataError(f"{config_path} has no yolocls parameter; write it with `yolocls export --include triton`")
