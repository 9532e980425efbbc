"""The metadata that travels with every exported model (ONNX ``metadata_props``, engine sidecar).

ONNX files carry one ``metadata_props`` entry ``yolocls`` holding :meth:`ModelMetadata.to_json`, plus the
YOLOv5-compatible keys ``names`` (a Python-dict string, as YOLOv5 writes it) and ``stride``. TensorRT
engines carry the same JSON, with TensorRT fields added, in the sidecar ``<engine>.json``.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field
from typing import Any

from yolocls.data.preprocess import PreprocessConfig
from yolocls.errors import MetadataError

METADATA_KEY = "yolocls"
METADATA_SCHEMA = 1


def _version() -> str:
    from yolocls import __version__

    return __version__


@dataclass
class ModelMetadata:
    """What a runtime needs to use a model without its checkpoint.

    ``names`` is indexed by class id; ``preprocess`` holds the spec'd preprocessing settings.
    """

    names: list[str]
    preprocess: PreprocessConfig
    model: str = "unknown"
    task: str = "classify"
    stride: int = 32
    input_name: str = "images"
    output_name: str = "output0"
    dynamic: bool = True
    batch: int = 1  # static batch size when not dynamic
    half: bool = False
    version: str = field(default_factory=_version)
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. TensorRT facts in a sidecar

    @property
    def imgsz(self) -> int:
        return self.preprocess.imgsz

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def to_dict(self) -> dict[str, Any]:
        pp = self.preprocess.to_dict()
        d: dict[str, Any] = {
            "schema": METADATA_SCHEMA,
            "task": self.task,
            "model": self.model,
            "names": list(self.names),
            "imgsz": [self.imgsz, self.imgsz],
            "preprocess": {
                "crop": pp["crop"],
                "mean": pp["mean"],
                "std": pp["std"],
                "scale": pp["scale"],
                "channel_order": pp["channel_order"],
                "pad_value": pp["pad_value"],
            },
            "stride": self.stride,
            "input_name": self.input_name,
            "output_name": self.output_name,
            "dynamic": self.dynamic,
            "batch": self.batch,
            "half": self.half,
            "yolocls_version": self.version,
            "created": self.created,
        }
        d.update(self.extra)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelMetadata:
        try:
            if d.get("task", "classify") != "classify":
                raise MetadataError(f"metadata is for task {d.get('task')!r}, yolocls only runs classifiers")
            names = d["names"]
            if isinstance(names, dict):  # {"0": "cat"} from other writers
                names = [names[k] for k in sorted(names, key=lambda k: int(k))]
            imgsz = d["imgsz"]
            imgsz = int(imgsz[0] if isinstance(imgsz, (list, tuple)) else imgsz)
            pp = dict(d.get("preprocess", {}))
            pp["imgsz"] = imgsz
            known = {"schema", "task", "model", "names", "imgsz", "preprocess", "stride", "input_name", "output_name",
                     "dynamic", "batch", "half", "yolocls_version", "created"}
            return cls(
                names=[str(n) for n in names],
                preprocess=PreprocessConfig.from_dict(pp),
                model=str(d.get("model", "unknown")),
                stride=int(d.get("stride", 32)),
                input_name=str(d.get("input_name", "images")),
                output_name=str(d.get("output_name", "output0")),
                dynamic=bool(d.get("dynamic", True)),
                batch=int(d.get("batch", 1)),
                half=bool(d.get("half", False)),
                version=str(d.get("yolocls_version", "unknown")),
                created=str(d.get("created", "")),
                extra={k: v for k, v in d.items() if k not in known},
            )
        except MetadataError:
            raise
        except (KeyError, TypeError, ValueError) as e:
            raise MetadataError(f"malformed yolocls metadata ({type(e).__name__}: {e}); re-export the model") from None

    @classmethod
    def from_json(cls, text: str) -> ModelMetadata:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise MetadataError(f"yolocls metadata is not valid JSON ({e}); re-export the model") from None
        if not isinstance(d, dict):
            raise MetadataError("yolocls metadata must be a JSON object; re-export the model")
        return cls.from_dict(d)

    def yolov5_props(self) -> dict[str, str]:
        """The YOLOv5-compatible ONNX metadata entries (YOLOv5 writes ``str(dict)``)."""
        return {"stride": str(self.stride), "names": str(dict(enumerate(self.names)))}
