"""Structure-aware fuzzing of the ONNX metadata / graph-interface readers, CI-sized (issue 10).

The cases and the worker live in scripts/fuzz_onnx_metadata.py (``--cases N`` for a longer hunt). Each mutated
file goes through ``yolocls info`` and ``runtime.load(...).predict`` on ONNX Runtime and OpenVINO in a worker
under a 1.5 GiB address-space cap; every step must end in a valid load or a one-line error within 10 s.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("onnx")
ROOT = Path(__file__).resolve().parents[1]


def _fuzzer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_onnx_metadata", ROOT / "scripts" / "fuzz_onnx_metadata.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_onnx_metadata_fuzz_ci_batch() -> None:
    fz = _fuzzer()
    seed = int(os.environ.get("YOLOCLS_FUZZ_SEED", "10"))
    out = fz.run_cases(int(os.environ.get("YOLOCLS_FUZZ_CASES", "80")), seed, mem_gb=1.5)
    assert not out["failures"], out["failures"][:3]
    assert out["slowest_s"] < fz.CASE_SECONDS
    # the cases must exercise both outcomes on every step, or the generator has gone stale
    for step in ("info", *out["backends"]):
        assert out["counts"].get(f"{step}:ok", 0) > 0 and out["counts"].get(f"{step}:error", 0) > 0, out["counts"]


def test_fuzz_case_generation_is_reproducible(tmp_path: Path) -> None:
    import random

    fz = _fuzzer()
    a = [fz.make_case(random.Random(3), i) for i in range(20)]
    b = [fz.make_case(random.Random(3), i) for i in range(20)]
    assert a == b
    p = fz.build_case(a[0], tmp_path / "c.onnx")
    assert p.stat().st_size > 0
