"""Site-furniture rules (what a news page wraps around an article), loaded from JSON data.

Rules match whole lines in their matching form (see ``orthography``), so one rule covers the
spelling variants of a footer (``اترك تعليقاً`` / ``اترك تعليقا``, tatweel, diacritics). A rule
file has, per kind, ``lines`` (literal lines, folded when loaded) and ``patterns`` (regular
expressions written in the matching form, anchored to the whole line). ``dateline`` has
``agencies`` instead. The packaged default lives in ``data/boilerplate.json``; a user file is
merged in on top (its entries are added, never replace the defaults).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from akhbar.pipeline.stages.orthography import normalize_for_matching

LINE_KINDS = ("trailing_furniture", "see_also", "byline", "signature")

# A footer line often ends with a colon or full stop that the rule author leaves out.
_EDGE_PUNCTUATION = " :.,;-!?\"'()[]/|"


class BoilerplateRulesError(ValueError):
    """A rule file is malformed (unknown kind, bad regex, wrong shape)."""


@dataclass(frozen=True, slots=True)
class LineRule:
    """The rules of one kind: a set of folded literal lines plus anchored patterns."""

    lines: frozenset[str]
    patterns: tuple[re.Pattern[str], ...]
    # The patterns as one alternation when that means the same (see _alternation): one regex
    # call per line instead of one per pattern, and most lines fail on their first character.
    _any: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_any", _alternation(self.patterns))

    def match(self, folded_line: str) -> re.Match[str] | bool:
        """Return a regex match (patterns) or True (literal line), else False."""
        if folded_line.strip(_EDGE_PUNCTUATION) in self.lines:
            return True
        if self._any is not None:
            return self._any.fullmatch(folded_line) or False
        for pattern in self.patterns:
            found = pattern.fullmatch(folded_line)
            if found:
                return found
        return False

    def __or__(self, other: LineRule) -> LineRule:
        """A rule that matches a line when either rule does."""
        return LineRule(self.lines | other.lines, self.patterns + other.patterns)


def _alternation(patterns: tuple[re.Pattern[str], ...]) -> re.Pattern[str] | None:
    """``(?:p1)|(?:p2)|...``, which fullmatches a line exactly when one of the patterns does; None
    where joining could change a meaning (groups, whose numbers would shift, or differing flags)
    or not pay (fewer than two patterns)."""
    if len(patterns) < 2 or any(p.groups for p in patterns):
        return None
    flags = {p.flags for p in patterns}
    if len(flags) != 1:
        return None
    try:
        return re.compile("|".join(f"(?:{p.pattern})" for p in patterns), flags.pop())
    except re.error:  # e.g. a global inline flag, allowed only at the start of a pattern
        return None


@dataclass(frozen=True, slots=True)
class BoilerplateRules:
    """All furniture rules the normaliser applies, one ``LineRule`` per kind."""

    trailing_furniture: LineRule
    see_also: LineRule
    byline: LineRule
    signature: LineRule
    agencies: frozenset[str]

    @classmethod
    def load(cls, user_path: str | Path | None = None) -> BoilerplateRules:
        """Load the packaged default rules, merged with the rules in ``user_path`` if given."""
        sources = [_read_default()]
        if user_path is not None:
            sources.append(_read_json(Path(user_path)))
        return cls.from_mappings(sources)

    @classmethod
    def from_mappings(cls, sources: Iterable[Mapping[str, Any]]) -> BoilerplateRules:
        """Build rules from already-parsed rule documents, later ones adding to earlier ones."""
        lines: dict[str, set[str]] = {kind: set() for kind in LINE_KINDS}
        patterns: dict[str, list[re.Pattern[str]]] = {kind: [] for kind in LINE_KINDS}
        agencies: set[str] = set()
        for source in sources:
            _check_kinds(source)
            for kind in LINE_KINDS:
                section = source.get(kind, {})
                lines[kind].update(_fold_lines(section.get("lines", []), kind))
                patterns[kind].extend(_compile(section.get("patterns", []), kind))
            agencies.update(_fold_lines(source.get("dateline", {}).get("agencies", []), "dateline"))
        rules = {
            kind: LineRule(frozenset(lines[kind]), tuple(patterns[kind])) for kind in LINE_KINDS
        }
        return cls(**rules, agencies=frozenset(agencies))


def _read_default() -> Mapping[str, Any]:
    text = (
        resources.files("akhbar.pipeline.stages")
        .joinpath("data/boilerplate.json")
        .read_text(encoding="utf-8")
    )
    return _parse(text, "packaged boilerplate.json")


def _read_json(path: Path) -> Mapping[str, Any]:
    return _parse(path.read_text(encoding="utf-8"), str(path))


def _parse(text: str, origin: str) -> Mapping[str, Any]:
    document = json.loads(text)
    if not isinstance(document, dict):
        raise BoilerplateRulesError(f"{origin}: expected a JSON object")
    return document


def _check_kinds(source: Mapping[str, Any]) -> None:
    unknown = set(source) - {*LINE_KINDS, "dateline", "version", "comment"}
    if unknown:
        raise BoilerplateRulesError(f"unknown rule kinds: {sorted(unknown)}")


def _fold_lines(entries: Iterable[str], kind: str) -> set[str]:
    if isinstance(entries, str):
        raise BoilerplateRulesError(f"{kind}: expected a list of strings")
    return {normalize_for_matching(entry).strip(_EDGE_PUNCTUATION) for entry in entries}


def _compile(entries: Iterable[str], kind: str) -> list[re.Pattern[str]]:
    compiled = []
    for entry in entries:
        try:
            compiled.append(re.compile(entry))
        except re.error as error:
            raise BoilerplateRulesError(f"{kind}: bad pattern {entry!r}: {error}") from error
    return compiled
