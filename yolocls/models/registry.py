"""The model zoo registry: each architecture registers named sizes that only fill a config."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from yolocls.errors import UnknownModelError
from yolocls.spec.preprocess import PreprocessConfig


@dataclass(frozen=True)
class ModelEntry:
    name: str
    family: str  # "yolov5", "resnet", "efficientnet", "tiny"
    builder: Callable[..., Any]  # builder(num_classes=..., **kwargs) -> ClassifierBase
    kwargs: dict[str, Any] = field(default_factory=dict)  # size config passed to builder
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    published: dict[str, Any] = field(default_factory=dict)  # numbers from the published table, for reports


_REGISTRY: dict[str, ModelEntry] = {}
FAMILY_ORDER = ("yolov5", "resnet", "efficientnet", "tiny")  # the published table's order


def register_model(entry: ModelEntry) -> ModelEntry:
    if entry.name in _REGISTRY:
        raise ValueError(f"model {entry.name!r} registered twice")
    _REGISTRY[entry.name] = entry
    return entry


def _ensure_loaded() -> None:
    # Importing the family modules registers their sizes.
    from yolocls.models import efficientnet, resnet, tiny, yolov5  # noqa: F401


def list_models(family: str | None = None) -> list[str]:
    _ensure_loaded()
    order = {f: i for i, f in enumerate(FAMILY_ORDER)}
    entries = sorted(_REGISTRY.values(), key=lambda e: order.get(e.family, len(order)))  # stable within a family
    return [e.name for e in entries if family is None or e.family == family]


def get_entry(name: str) -> ModelEntry:
    _ensure_loaded()
    if name not in _REGISTRY:
        import difflib

        close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UnknownModelError(f"unknown model {name!r}{hint} (see `yolocls info --list`)")
    return _REGISTRY[name]


def create_model(name: str, num_classes: int = 1000, names: list[str] | None = None, **kwargs: Any) -> Any:
    """Build a zoo model with random weights.

    Args:
        name: a registered name (``yolocls info --list``), e.g. ``yolov5s-cls``.
        num_classes: size of the classifier output.
        names: class names (defaults to ``["0", "1", ...]``); sets ``num_classes`` when given.
        kwargs: overrides of the size config (e.g. ``dropout``).
    Returns:
        A :class:`~yolocls.models.base.ClassifierBase` in train mode.
    """
    entry = get_entry(name)
    if names is not None:
        num_classes = len(names)
    if not isinstance(num_classes, int) or num_classes < 1:
        from yolocls.errors import InputError

        raise InputError(f"num_classes must be a positive integer, got {num_classes!r}")
    cfg = {**entry.kwargs, **kwargs}
    model = entry.builder(num_classes=num_classes, **cfg)
    model.model_name = name
    model.model_kwargs = dict(kwargs)
    model.names = list(names) if names is not None else [str(i) for i in range(num_classes)]
    model.preprocess = entry.preprocess
    return model
