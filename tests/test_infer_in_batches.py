"""yolocls.runtime.base.infer_in_batches: the one fixed-batch splitter (static ONNX files, TensorRT profiles, val)."""

from __future__ import annotations

import numpy as np
import pytest

from yolocls.errors import InputError
from yolocls.runtime.base import infer_in_batches


class _FixedModel:
    """Takes only batch sizes in [lo, hi]; answers row sums and records every batch it saw."""

    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi = lo, hi
        self.calls: list[np.ndarray] = []

    def __call__(self, x: np.ndarray) -> np.ndarray:
        assert self.lo <= x.shape[0] <= self.hi, f"batch {x.shape[0]} outside [{self.lo}, {self.hi}]"
        self.calls.append(x.copy())
        return x.reshape(x.shape[0], -1).sum(1, keepdims=True)


@pytest.mark.parametrize("n", [1, 3, 4, 5, 8, 11])
def test_fixed_batch_rows_in_order_and_edge_padded(n: int) -> None:
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2) + 1
    model = _FixedModel(4, 4)
    out = infer_in_batches(model, x, 4)
    np.testing.assert_array_equal(out, x.sum(1, keepdims=True))  # padding's outputs dropped, order kept
    assert len(model.calls) == -(-n // 4)
    last = model.calls[-1]
    m = n - 4 * (len(model.calls) - 1)
    assert np.array_equal(last[:m], x[-m:]) and all(np.array_equal(r, x[-1]) for r in last[m:])  # copies of last row


def test_profile_min_below_max_chunks_and_pads_only_short_chunks() -> None:
    x = np.arange(9, dtype=np.float32).reshape(9, 1)
    model = _FixedModel(2, 4)
    np.testing.assert_array_equal(infer_in_batches(model, x, 4, 2), x)
    assert [c.shape[0] for c in model.calls] == [4, 4, 2]  # 9 = 4 + 4 + 1 padded to 2
    one = _FixedModel(2, 4)
    np.testing.assert_array_equal(infer_in_batches(one, x[:3], 4, 2), x[:3])
    assert [c.shape[0] for c in one.calls] == [3]  # within the limits: one call, no padding


@pytest.mark.parametrize(("hi", "lo", "n"), [(4, 5, 1), (0, None, 1), (4, 0, 1), (4, None, 0)])
def test_bad_limits_and_empty_batch(hi: int, lo: int | None, n: int) -> None:
    with pytest.raises(InputError, match="batch"):
        infer_in_batches(_FixedModel(1, 8), np.zeros((n, 1), np.float32), hi, lo)
