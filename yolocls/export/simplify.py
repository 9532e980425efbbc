"""ONNX graph simplification with onnxsim (constant folding, redundant-node removal).

``onnxsim`` is imported lazily: its import pulls in heavy dependencies (seconds), and exports without
``simplify`` should not pay for it. A failing simplifier never loses the export: the unsimplified graph is
kept and a warning says why.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any


@dataclass
class SimplifyResult:
    """Outcome of :func:`simplify_onnx`.

    Attributes:
        model: the simplified ``onnx.ModelProto`` (the input model when simplification failed).
        nodes_before, nodes_after: node counts of the top-level graph.
        simplified: whether onnxsim's result was kept.
        message: why it was not kept ("" when it was).
    """

    model: Any
    nodes_before: int
    nodes_after: int
    simplified: bool
    message: str = ""


def _warn(msg: str, warn: bool) -> None:
    if warn:
        warnings.warn(msg, stacklevel=3)


def is_simplifier_prop(key: str) -> bool:
    """Whether a metadata_props key is one of the statistics onnxsim leaves in the model (``onnxsim.*``)."""
    return key == "onnxsim" or key.startswith("onnxsim.")


def drop_simplifier_props(model: Any) -> None:
    """Remove onnxsim's ``onnxsim.*`` metadata_props from an ``onnx.ModelProto`` in place (they are not metadata)."""
    keep = [(p.key, p.value) for p in model.metadata_props if not is_simplifier_prop(p.key)]
    del model.metadata_props[:]
    for k, v in keep:
        model.metadata_props.add(key=k, value=v)


def count_nodes(model: Any) -> int:
    """Number of nodes in the top-level graph of an ``onnx.ModelProto``."""
    return len(model.graph.node)


def simplify_onnx(model: Any, warn: bool = True) -> SimplifyResult:
    """Simplify an ``onnx.ModelProto`` with onnxsim; keep the input if onnxsim fails or is missing.

    The reason is in ``SimplifyResult.message`` and, with ``warn``, also issued as a ``UserWarning``.
    onnxsim's ``onnxsim.*`` statistics are not left in the model's metadata_props.
    Shapes: a dynamic batch axis stays dynamic (no input shapes are overwritten). onnxsim's own numeric check
    (random inputs) is skipped: :mod:`yolocls.export.verify` checks the final file on real images instead.
    """
    before = count_nodes(model)
    try:
        import onnxsim
    except ImportError as e:
        msg = f"onnxsim is not installed ({e}); kept the unsimplified model (pip install onnxsim)"
        _warn(msg, warn)
        return SimplifyResult(model, before, before, False, msg)
    try:
        simplified, ok = onnxsim.simplify(model, check_n=0)
    except Exception as e:  # noqa: BLE001 - onnxsim raises many types (RuntimeError, onnx errors, ...)
        msg = f"onnxsim failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); kept the unsimplified model"
        _warn(msg, warn)
        return SimplifyResult(model, before, before, False, msg)
    if not ok:
        msg = "onnxsim could not validate its result; kept the unsimplified model"
        _warn(msg, warn)
        return SimplifyResult(model, before, before, False, msg)
    drop_simplifier_props(simplified)
    after = count_nodes(simplified)
    if after > before:  # never accept a "simplification" that grows the graph
        msg = f"onnxsim grew the graph ({before} -> {after} nodes); kept the unsimplified model"
        _warn(msg, warn)
        return SimplifyResult(model, before, before, False, msg)
    return SimplifyResult(simplified, before, after, True)
