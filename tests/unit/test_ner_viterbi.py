"""The compiled decoder's build: cached on disk where possible, compiled in memory otherwise."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import numpy.typing as npt
import pytest

from akhbar.pipeline.ner import viterbi


def count_up(out: npt.NDArray[np.intp]) -> None:
    for i in range(out.shape[0]):
        out[i] = i


def test_kernel_compiles_when_no_cache_directory_is_writable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """numba raises RuntimeError for cache=True without a writable location (read-only image)."""
    real_njit = numba.njit

    def njit_without_cache(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("cache"):
            raise RuntimeError("cannot cache function 'count_up': no locator available")
        return real_njit(*args, **kwargs)

    monkeypatch.setattr(numba, "njit", njit_without_cache)
    compiled = viterbi._compiled(count_up)
    out = np.zeros(4, dtype=np.intp)
    compiled(out)
    assert out.tolist() == [0, 1, 2, 3]
