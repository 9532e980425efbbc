"""The loops: training (:mod:`.trainer`), validation (:mod:`.validator`) and prediction (:mod:`.predictor`).

Names are imported lazily so that ``import yolocls.engine`` stays cheap.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "TrainConfig": "yolocls.engine.trainer",
    "Trainer": "yolocls.engine.trainer",
    "TrainResults": "yolocls.engine.trainer",
    "train": "yolocls.engine.trainer",
    "ValResults": "yolocls.engine.validator",
    "validate": "yolocls.engine.validator",
    "predict": "yolocls.engine.predictor",
    "iter_predictions": "yolocls.engine.predictor",
    "PredictResults": "yolocls.engine.predictor",
    "ModelEMA": "yolocls.engine.ema",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'yolocls.engine' has no attribute {name!r}")
