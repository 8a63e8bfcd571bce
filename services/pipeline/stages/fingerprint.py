"""The stateless half of dedup: an article's fingerprint (body hash and word-shingle ids).

The fingerprint is a function of the normalised body alone, so the head computes it with the
other stateless stages, in parallel across the raw partitions (and in a stage process when the
worker has one); the dedup stage, on its single partition, only compares it with its index. The
shingle ids are persisted (the ``s:`` keys of the dedup state), so their hash is defined here
and must never change (``shingle_ids``); the compiled kernel and the numpy reference give
bit-identical ids, which the tests hold them to.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import cache
from typing import Any, Final

import numba
import numpy as np
import numpy.typing as npt

from akhbar.pipeline.stages.article import Article, Fingerprint
from akhbar.pipeline.stages.dedup import (
    EMPTY_IDS,
    SHINGLE_SIZE,
    ShingleIds,
    body_hash,
    encode_ids,
)

# --- shingling --------------------------------------------------------------------------------

_POLY: Final = 0x100000001B3  # odd, so it has an inverse modulo 2**64
_POLY_INV: Final = pow(_POLY, -1, 2**64)
_MIX: Final = np.uint64(0x9E3779B97F4A7C15)
_FMIX: Final = np.uint64(0xFF51AFD7ED558CCD)


_SHIFT_FINAL: Final = np.uint64(31)
_HIGH_HALF: Final = 1 if sys.byteorder == "little" else 0  # of a uint64 viewed as 2 uint32


@cache
def _word_char_table() -> npt.NDArray[np.bool_]:
    """A lookup table over all code points: True for letters and digits (what forms a word)."""
    return np.array([chr(c).isalnum() for c in range(0x110000)], dtype=np.bool_)


@cache
def _powers(size: int) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """``P**i`` and ``P**-(i + 1)`` modulo 2**64 for ``i < size`` (``P`` the polynomial base)."""
    base = np.full(size, _POLY, dtype=np.uint64)
    base[0] = 1
    inverse = np.full(size + 1, _POLY_INV, dtype=np.uint64)
    inverse[0] = 1
    return np.cumprod(base, dtype=np.uint64), np.cumprod(inverse, dtype=np.uint64)[1:]


def _compiled(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` compiled by numba, cached on disk where a cache directory is writable.

    numba refuses ``cache=True`` (RuntimeError) when no cache location is writable, as in a
    read-only install; then the kernel is compiled in memory on first use.
    """
    try:
        return numba.njit(nogil=True, cache=True)(function)
    except RuntimeError:
        return numba.njit(nogil=True)(function)


# numba constants: typed uint64 so no arithmetic is promoted to int64 or float64.
_K_POLY: Final = np.uint64(_POLY)
_K_ONE: Final = np.uint64(1)
_K_ZERO: Final = np.uint64(0)
_K_HIGH: Final = np.uint64(32)


@_compiled
def _shingle_kernel(
    codes: npt.NDArray[np.uint32], is_word: npt.NDArray[np.bool_], size: int
) -> ShingleIds:
    """:func:`shingle_ids` over the code points of the text, in one compiled pass.

    The same arithmetic as :func:`shingle_ids_numpy`, modulo 2**64: a word's hash
    ``sum(code[j] * P**(j - start))`` is accumulated directly instead of read off prefix sums
    (equal modulo 2**64, since ``P`` is invertible), then the same rolling mix per shingle.
    """
    n = codes.shape[0]
    words = np.empty(n // 2 + 1, dtype=np.uint64)
    count = 0
    word = _K_ZERO
    power = _K_ONE
    inside = False
    for i in range(n):
        code = codes[i]
        if is_word[code]:
            if not inside:
                word = _K_ZERO
                power = _K_ONE
                inside = True
            word += np.uint64(code) * power
            power *= _K_POLY
        elif inside:
            words[count] = word
            count += 1
            inside = False
    if inside:
        words[count] = word
        count += 1
    if count == 0:
        return np.empty(0, dtype=np.uint32)
    width = min(size, count)
    shingles = count - width + 1
    ids = np.empty(shingles, dtype=np.uint32)
    for i in range(shingles):
        mixed = words[i] * _MIX
        for offset in range(1, width):
            mixed ^= words[i + offset]
            mixed *= _MIX
        mixed ^= mixed >> _SHIFT_FINAL
        mixed *= _FMIX
        ids[i] = np.uint32(mixed >> _K_HIGH)  # the high 32 bits of each hash
    ids.sort()
    kept = 1
    for i in range(1, shingles):
        if ids[i] != ids[kept - 1]:
            ids[kept] = ids[i]
            kept += 1
    return ids[:kept].copy()


def shingle_ids(text: str, size: int) -> ShingleIds:
    """The sorted, distinct 32-bit ids of the word ``size``-grams of ``text``.

    Words are maximal runs of letters and digits, so punctuation and spacing edits do not change
    the set. The hash is defined here (a polynomial over code points, mixed per shingle) rather
    than taken from a library, because these ids are persisted and must not change with a library
    upgrade. One compiled kernel over the text's code points: at ~280 words an article, the
    numpy version (:func:`shingle_ids_numpy`, kept as the reference) spent its time in the fixed
    cost of its ~20 numpy calls, not in arithmetic.
    """
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    ids = _shingle_kernel(codes, _word_char_table(), size)
    return ids if ids.size else EMPTY_IDS


def shingle_ids_numpy(text: str, size: int) -> ShingleIds:
    """The reference for :func:`shingle_ids`: the same ids in numpy (the stage's code until the
    compiled kernel replaced it; tests hold the two to bit-identical output).

    The sorted, distinct 32-bit ids of the word ``size``-grams of ``text``.

    Words are maximal runs of letters and digits, so punctuation and spacing edits do not change
    the set. The hash is defined here (a polynomial over code points, mixed per shingle) rather
    than taken from a library, because these ids are persisted and must not change with a library
    upgrade. The work is vectorised, and in as few numpy calls as possible: at ~280 words an
    article, each call's fixed cost (~1-3 us) outweighs its work, and a Python loop over the words
    costs more than the whole stage.
    """
    codes = np.frombuffer(f" {text} ".encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    is_word = _word_char_table().take(codes)
    # Padding makes the first change a word start and the changes alternate start, end: a change
    # at i means a word starts at i + 1, or ends at i (inclusive).
    bounds = (is_word[1:] != is_word[:-1]).nonzero()[0]
    if not bounds.size:
        return EMPTY_IDS
    # Round the table size up to a power of two so a handful of cached tables serve every length.
    powers, next_inverse = _powers(max(4096, 1 << codes.size.bit_length()))
    # Arithmetic is modulo 2**64 on purpose (numpy arrays wrap silently). A word's hash is
    # sum(code[j] * P**(j - start)), read off prefix sums and shifted back to position 0.
    at_bounds = (codes * powers[: codes.size]).cumsum().take(bounds)
    words = (at_bounds[1::2] - at_bounds[0::2]) * next_inverse.take(bounds[0::2])
    width = min(size, words.size)
    count = words.size - width + 1
    mixed = words[:count] * _MIX
    for offset in range(1, width):
        mixed ^= words[offset : offset + count]
        mixed *= _MIX
    mixed ^= mixed >> _SHIFT_FINAL
    mixed *= _FMIX
    ids = np.sort(mixed.view(np.uint32)[_HIGH_HALF::2])  # the high 32 bits of each hash
    keep = np.empty(ids.size, dtype=np.bool_)
    keep[0] = True
    np.not_equal(ids[1:], ids[:-1], out=keep[1:])
    return ids[keep]


class Fingerprinter:
    """The stage: sets ``article.fingerprint`` from its ``match_text``.

    An article without a word to match gets none; the dedup stage refuses it
    (``empty_match_text``), as it refuses one without a fingerprint or match text.
    """

    def __init__(self, shingle_size: int = SHINGLE_SIZE) -> None:
        self.shingle_size = shingle_size
        _word_char_table()  # built once here (~0.5 s), not on the first article
        shingle_ids("warm", shingle_size)  # compiled or loaded here, not later

    def __call__(self, article: Article) -> Article:
        text = article.match_text
        if text and not text.isspace():
            ids = shingle_ids(text, self.shingle_size)
            article.fingerprint = Fingerprint(body_hash(text), self.shingle_size, encode_ids(ids))
        return article
