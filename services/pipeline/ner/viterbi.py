"""Compiled CRF decoding: label scores from cached per-word blocks, then Viterbi, per sentence.

A Python or numpy loop over positions costs microseconds per token; compiled, the whole article
costs about as much as one numpy call. The arithmetic is crfsuite's, in its order: a position's
scores are its word blocks and gazetteer rows added up, and Viterbi takes the first maximum of
``previous + transition`` before adding the position's own scores. So the decoder picks what
crfsuite's tagger picks (``tests/unit/test_ner_model.py`` holds it to that).
"""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np
import numpy.typing as npt

# Gazetteer rows for the token before a sentence's first and after its last token.
GAZ_BEFORE = 7
GAZ_AFTER = 8


def _compiled(function: Callable[..., None]) -> Callable[..., None]:
    """``function`` compiled by numba, cached on disk where a cache directory is writable.

    Compiling takes seconds, so a worker or CLI run would pay it on every start. numba refuses
    ``cache=True`` (RuntimeError) when no cache location is writable, as in a read-only
    install; then the kernel is compiled in memory when the model loads.
    """
    try:
        return numba.njit(nogil=True, cache=True)(function)
    except RuntimeError:
        return numba.njit(nogil=True)(function)


@_compiled
def decode(
    table: npt.NDArray[np.float64],
    rows: npt.NDArray[np.intp],
    pads: tuple[int, int],
    gaz: npt.NDArray[np.int8],
    gaz_table: npt.NDArray[np.float64],
    transitions: npt.NDArray[np.float64],
    bounds: npt.NDArray[np.intp],
    out: npt.NDArray[np.intp],
) -> None:
    """Write the best label of every token into ``out``.

    ``table[row]`` is a word form's (5, labels) block: what it adds to its own token and, as
    seen from them, to the tokens 1 after, 1 before, 2 after and 2 before it. ``rows`` are the
    tokens' rows and ``pads`` the rows of the padding before and after a sentence. ``gaz`` holds
    the tokens' gazetteer tag ids, ``gaz_table`` (3, tags, labels) what a token's own tag, the
    previous token's and the next token's add to its scores. Sentence ``s`` is tokens
    ``bounds[s]:bounds[s + 1]``.
    """
    n_labels = transitions.shape[0]
    pad_before, pad_after = pads
    state = np.empty((rows.shape[0], n_labels))
    back = np.empty((rows.shape[0], n_labels), dtype=np.intp)
    best = np.empty(n_labels)
    step = np.empty(n_labels)
    for s in range(bounds.shape[0] - 1):
        lo, hi = bounds[s], bounds[s + 1]
        for t in range(lo, hi):
            own, prev1, next1 = rows[t], pad_before, pad_after
            prev2, next2 = pad_before, pad_after
            gaz_prev, gaz_next = GAZ_BEFORE, GAZ_AFTER
            if t - 1 >= lo:
                prev1, gaz_prev = rows[t - 1], gaz[t - 1]
            if t - 2 >= lo:
                prev2 = rows[t - 2]
            if t + 1 < hi:
                next1, gaz_next = rows[t + 1], gaz[t + 1]
            if t + 2 < hi:
                next2 = rows[t + 2]
            for y in range(n_labels):
                score = table[own, 0, y] + table[prev1, 1, y]
                score += table[next1, 2, y]
                score += table[prev2, 3, y]
                score += table[next2, 4, y]
                tagged = gaz_table[0, gaz[t], y] + gaz_table[1, gaz_prev, y]
                tagged += gaz_table[2, gaz_next, y]
                state[t, y] = score + tagged
        if hi == lo:
            continue
        for y in range(n_labels):
            best[y] = state[lo, y]
        for t in range(lo + 1, hi):
            for y in range(n_labels):
                top = -np.inf
                arg = -1
                for x in range(n_labels):
                    candidate = best[x] + transitions[x, y]
                    if top < candidate:
                        top = candidate
                        arg = x
                back[t, y] = arg
                step[y] = top
            for y in range(n_labels):
                best[y] = step[y] + state[t, y]
        label = 0
        for y in range(1, n_labels):
            if best[label] < best[y]:
                label = y
        out[hi - 1] = label
        for t in range(hi - 1, lo, -1):
            label = back[t, label]
            out[t - 1] = label
