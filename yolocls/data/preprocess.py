"""Moved to :mod:`yolocls.spec.preprocess` (the spec's leaf package); this module re-exports it for old imports."""

from __future__ import annotations

from yolocls.spec.preprocess import *  # noqa: F403
from yolocls.spec.preprocess import __all__  # noqa: F401
