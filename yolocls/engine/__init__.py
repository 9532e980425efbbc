"""The loops: training (:mod:`.trainer`), validation (:mod:`.validator`) and prediction (:mod:`.predictor`).

Names are imported lazily so that ``import yolocls.engine`` stays cheap.
"""

from __future__ import annotations

from yolocls._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
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
}, submodules=("distributed", "ema", "metrics", "plots", "predictor", "trainer", "validator"))
