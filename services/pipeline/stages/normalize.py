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

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from akhbar.pipeline.stages.article import Article, Dateline
from akhbar.pipeline.stages.boilerplate import BoilerplateRules
from akhbar.pipeline.stages.errors import RejectedArticle
from akhbar.pipeline.stages.orthography import (
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
_PLACE = r"(?:[^\W\d_]+ ){0,2}[^\W\d_]+"  # one to three words of letters
_DATELINE_HEAD = re.compile(rf"{_PLACE}(?:\s*[-–—]\s*{_PLACE})*\s*[-–—]\s*")


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

    def __call__(self, article: Article) -> Article:
        lines = _split_lines(article.body)
        folded = _fold_lines(lines)
        byline, dateline, lines, folded = self._strip_head(lines, folded)
        end = self._tail_end(lines, folded)
        text = "\n".join(lines[:end])
        self._check_gate(text)
        title = article.title or (lines[0] if lines else "")
        return replace(
            article,
            title=title,
            text=text,
            # normalize_for_matching(text), without folding the text a second time
            match_text="\n".join(filter(None, folded[:end])),
            match_title=normalize_for_matching(title),
            dateline=dateline,
            byline=byline,
            boilerplate_chars=sum(map(len, lines[end:])),
            language="ar",
        )

    def _check_gate(self, text: str) -> None:
        if len(text) < self.min_chars:
            raise RejectedArticle("too_short", f"{len(text)} chars < {self.min_chars}")
        arabic, letters = letter_counts(text)
        ratio = arabic / letters if letters else 0.0
        if ratio < self.min_arabic_ratio:
            raise RejectedArticle(
                "not_arabic", f"Arabic letters {ratio:.2f} of letters < {self.min_arabic_ratio}"
            )

    def _strip_head(
        self, lines: list[str], folded: list[str]
    ) -> tuple[str | None, Dateline | None, list[str], list[str]]:
        byline: str | None = None
        dateline: Dateline | None = None
        # A byline and a dateline each come at most once, in either order.
        for _ in range(2):
            if not lines:
                break
            if byline is None and (found := self._byline(lines[0], folded[0])) is not None:
                byline, lines, folded = found, lines[1:], folded[1:]
            elif dateline is None and (parsed := self._dateline(lines[0])) is not None:
                dateline, rest = parsed
                if rest:
                    lines = [rest, *lines[1:]]
                    folded = [normalize_for_matching(rest), *folded[1:]]
                else:
                    lines, folded = lines[1:], folded[1:]
        return byline, dateline, lines, folded

    def _byline(self, line: str, folded_line: str) -> str | None:
        if len(line) > MAX_RULE_LINE or not self.rules.byline.match(folded_line):
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
            if len(words) >= count and normalize_for_matching(agency) in self.rules.agencies:
                raw = line[: head.end() + len(agency)]
                return Dateline(raw=raw, places=places, agency=agency), " ".join(words[count:])
        return None

    def _tail_end(self, lines: list[str], folded: list[str]) -> int:
        """Index of the first line of the furniture block that ends the body (len if none)."""

        def rule_form(index: int) -> str:
            # Furniture lines are short; a long line is article text and never matches.
            return folded[index] if len(lines[index]) <= MAX_RULE_LINE else ""

        end = len(lines)
        changed = True
        while changed and end > 0:
            changed = False
            cut = self._see_also_cut(rule_form, end)
            if cut is not None:
                end, changed = cut, True
            while end > 0 and self._is_furniture(rule_form(end - 1)):
                end, changed = end - 1, True
        return end

    def _see_also_cut(self, rule_form: Callable[[int], str], end: int) -> int | None:
        for index in range(max(0, end - MAX_TEASER_LINES - 1), end):
            if self.rules.see_also.match(rule_form(index)):
                return index
        return None

    def _is_furniture(self, folded_line: str) -> bool:
        return bool(
            self.rules.trailing_furniture.match(folded_line)
            or self.rules.signature.match(folded_line)
        )


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


def _fold_lines(lines: list[str]) -> list[str]:
    """``normalize_for_matching`` of each line (which holds no line break), in one call."""
    folded = normalize_for_matching("\n".join(lines))
    parts = folded.split("\n") if folded else []
    # The key is line-local, so the parts are the lines' keys unless a line folds to nothing
    # (a tatweel rule, say) and its part is missing.
    if len(parts) == len(lines):
        return parts
    return [normalize_for_matching(line) for line in lines]


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
