"""The normalise stage: clean an article's body for display and attach its matching form.

``text`` keeps the writer's orthography letter for letter (diacritics, tatweel, quote marks as
written); only whitespace is tidied and site furniture removed: each paragraph on one line,
inner whitespace runs collapsed to one space, blank lines dropped. Matching uses
``match_text``/``match_title`` (see ``orthography``). Furniture is removed only as a contiguous
block at the end (and a byline/dateline at the start), because cutting a real paragraph is worse
than leaving a footer in. ``boilerplate_chars`` counts the characters of those removed tail
lines; a byline or dateline is metadata, kept on the record, and not counted.

An empty title (JSONL input) is replaced by the first line of ``text``, which stays in ``text``.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from akhbar.pipeline.stages.article import Article, Dateline
from akhbar.pipeline.stages.boilerplate import BoilerplateRules
from akhbar.pipeline.stages.errors import RejectedArticle
from akhbar.pipeline.stages.orthography import (
    EncodedLines,
    letter_counts,
    normalize_for_matching,
    normalize_with_offsets,
)

DEFAULT_MIN_CHARS = 50  # a two-sentence brief ("قتل 3 أشخاص ... التحقيق جار.") is ~60
DEFAULT_MIN_ARABIC_RATIO = 0.6
# A "see also" heading further up than this is not the page footer; leave it alone.
MAX_TEASER_LINES = 3
MAX_RULE_LINE = 300  # longer lines are article text; no rule is tried on them
_DATELINE_SEPARATOR = re.compile(r"\s*[-–—]\s*")
# One to three words of letters. Possessive: a word never gives back a letter, since what
# follows it (a space, a dash) cannot be one; this saves backtracking on every first line.
_PLACE = r"(?:[^\W\d_]++ ){0,2}[^\W\d_]++"
_DATELINE_HEAD = re.compile(rf"{_PLACE}(?:\s*[-–—]\s*{_PLACE})*\s*[-–—]\s*")


# Agency candidates (the one to three words after a dateline's places) repeat from article to
# article; folding each costs a few microseconds.
_agency_key = functools.lru_cache(maxsize=4096)(normalize_for_matching)


class Normalizer:
    """Callable stage: ``Article -> Article`` with ``text``, matching forms and metadata filled."""

    def __init__(
        self,
        rules: BoilerplateRules,
        min_chars: int = DEFAULT_MIN_CHARS,
        min_arabic_ratio: float = DEFAULT_MIN_ARABIC_RATIO,
    ) -> None:
        self.rules = rules
        self.min_chars = min_chars
        self.min_arabic_ratio = min_arabic_ratio
        self._furniture = rules.trailing_furniture | rules.signature

    def __call__(self, article: Article) -> Article:
        lines = _Lines(article.body)
        byline, dateline = self._strip_head(lines)
        end = self._tail_end(lines)
        text = "\n".join(lines.text[:end])
        if len(text) < self.min_chars:
            raise RejectedArticle("too_short", f"{len(text)} chars < {self.min_chars}")
        match_text, ratio = lines.match_text_and_arabic_ratio(text, end)
        if ratio < self.min_arabic_ratio:
            raise RejectedArticle(
                "not_arabic", f"Arabic letters {ratio:.2f} of letters < {self.min_arabic_ratio}"
            )
        title = article.title or (lines.text[0] if lines.text else "")
        return replace(
            article,
            title=title,
            text=text,
            match_text=match_text,
            match_title=normalize_for_matching(title),
            dateline=dateline,
            byline=byline,
            boilerplate_chars=sum(map(len, lines.text[end:])),
            language="ar",
        )

    def _strip_head(self, lines: _Lines) -> tuple[str | None, Dateline | None]:
        byline: str | None = None
        dateline: Dateline | None = None
        # A byline and a dateline each come at most once, in either order.
        for _ in range(2):
            if not lines.text:
                break
            if byline is None and (found := self._byline(lines)) is not None:
                byline = found
                lines.drop_first()
            elif dateline is None and (parsed := self._dateline(lines.text[0])) is not None:
                dateline, rest = parsed
                if rest:
                    lines.cut_first(rest)
                else:
                    lines.drop_first()
            else:
                break  # the same line would be checked again for nothing
        return byline, dateline

    def _byline(self, lines: _Lines) -> str | None:
        line = lines.text[0]
        if len(line) > MAX_RULE_LINE or not self.rules.byline.match(lines.key(0)):
            return None
        folded, offsets = normalize_with_offsets(line)
        found = self.rules.byline.match(folded)
        if found is True or "byline" not in found.re.groupindex:
            return line
        # Report the byline as written, not in its folded form.
        start, end = found.span("byline")
        return line[offsets[start] : offsets[end]].strip()

    def _dateline(self, line: str) -> tuple[Dateline, str] | None:
        """Parse ``place-place-agency`` at the start of the line; return it and the rest."""
        head = _DATELINE_HEAD.match(line)
        if head is None:
            return None
        places = [p for p in _DATELINE_SEPARATOR.split(head.group()) if p]
        after = line[head.end() :]
        words = after.split(" ")
        # The agency is one to three words (``أ ف ب``); the lead may follow on the same line.
        for count in (3, 2, 1):
            agency = " ".join(words[:count])
            if len(words) >= count and _agency_key(agency) in self.rules.agencies:
                raw = line[: head.end() + len(agency)]
                return Dateline(raw=raw, places=places, agency=agency), " ".join(words[count:])
        return None

    def _tail_end(self, lines: _Lines) -> int:
        """Index of the first line of the furniture block that ends the body (len if none)."""
        see_also: dict[int, bool] = {}  # each line is tried once, however often the window moves

        def is_see_also(index: int) -> bool:
            found = see_also.get(index)
            if found is None:
                found = see_also[index] = bool(self.rules.see_also.match(rule_form(index)))
            return found

        def rule_form(index: int) -> str:
            # Furniture lines are short; a long line is article text and never matches.
            return lines.key(index) if len(lines.text[index]) <= MAX_RULE_LINE else ""

        end = len(lines.text)
        changed = True
        while changed and end > 0:
            changed = False
            cut = _see_also_cut(is_see_also, end)
            if cut is not None:
                end, changed = cut, True
            while end > 0 and self._is_furniture(rule_form(end - 1)):
                end, changed = end - 1, True
        return end

    def _is_furniture(self, folded_line: str) -> bool:
        return bool(self._furniture.match(folded_line))


def _see_also_cut(is_see_also: Callable[[int], bool], end: int) -> int | None:
    for index in range(max(0, end - MAX_TEASER_LINES - 1), end):
        if is_see_also(index):
            return index
    return None


class _Lines:
    """An article body's lines, tidied as ``collapse_whitespace`` does, and their matching keys.

    The head rules drop the first line or cut its start, so the lines left are always one
    stretch ``"\\n".join(lines)[cut:]`` of the tidied body: for a body in the text alphabet
    (almost always), keys, ``match_text`` and letter counts come from the bytes of that stretch
    (see ``EncodedLines``); otherwise from plain ``str`` functions.
    """

    __slots__ = ("_cut", "_encoded", "_keys", "_keys_line_local", "text")

    def __init__(self, body: str) -> None:
        self._encoded = EncodedLines.of(body)
        self._cut = 0
        keys = None
        if self._encoded is None:
            self.text = _split_lines(body)
        else:
            self.text = list(self._encoded.lines)
            keys = self._encoded.keys()
        # With keys from one fold, match_text is made of them; else folded as one stretch.
        self._keys_line_local = keys is not None
        self._keys: list[str | None] = [None] * len(self.text) if keys is None else list(keys)

    def key(self, index: int) -> str:
        """``normalize_for_matching(self.text[index])``."""
        key = self._keys[index]
        if key is None:
            key = self._keys[index] = normalize_for_matching(self.text[index])
        return key

    def drop_first(self) -> None:
        self._cut += len(self.text[0]) + 1
        del self.text[0], self._keys[0]

    def cut_first(self, rest: str) -> None:
        """Keep only ``rest`` of the first line: a tidy end of it."""
        line = self.text[0]
        if not line.endswith(rest):
            raise ValueError(f"{rest!r} does not end {line!r}")
        self._cut += len(line) - len(rest)
        self.text[0], self._keys[0] = rest, None

    def match_text_and_arabic_ratio(self, text: str, end: int) -> tuple[str, float]:
        """``normalize_for_matching(text)`` and the share of its letters that are Arabic, where
        ``text`` is the first ``end`` lines joined."""
        if self._encoded is None:
            arabic, letters = letter_counts(text)
            return normalize_for_matching(text), arabic / letters if letters else 0.0
        start, stop = self._cut, self._cut + len(text)
        ratio = self._encoded.arabic_letter_ratio(start, stop)
        if not self._keys_line_local:
            return self._encoded.key(start, stop), ratio
        keys = self._keys[:end]
        if None in keys:  # a first line that was cut
            keys = [self.key(index) for index in range(end)]
        # The key is line-local, so the lines' keys make up the text's (a line may fold to "").
        return "\n".join(filter(None, keys)), ratio


def _split_lines(body: str) -> list[str]:
    """The body's lines, whitespace-tidied, blank ones dropped: ``collapse_whitespace(body)``."""
    return list(filter(None, map(_tidy_line, body.splitlines())))


def _tidy_line(line: str) -> str:
    # A printable line holds no whitespace but the ASCII space (tested over all of Unicode), so
    # it is already tidy unless a space is doubled or at an edge; most lines are, and these
    # checks are far cheaper than splitting the line into words.
    if not line.isprintable():
        # The no-break space is the usual culprit, and splitting into words is slow.
        line = line.replace("\u00a0", " ")
        if not line.isprintable():
            return " ".join(line.split())
    if "  " not in line and line[:1] != " " and line[-1:] != " ":
        return line
    return " ".join(line.split())


def bench(articles: Sequence[Article], repeat: int = 20) -> float:
    """Return how many articles per second a default ``Normalizer`` processes on this core."""
    normalizer = Normalizer(BoilerplateRules.load())
    for article in articles:  # warm the lazily built tables
        normalizer(article)
    started = time.perf_counter()
    for _ in range(repeat):
        for article in articles:
            normalizer(article)
    elapsed = time.perf_counter() - started
    return repeat * len(articles) / elapsed if elapsed > 0 else float("inf")


__all__ = ["DEFAULT_MIN_ARABIC_RATIO", "DEFAULT_MIN_CHARS", "Normalizer", "bench"]
