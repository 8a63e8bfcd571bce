"""CRF features built from one word at a time, so each word form's features are computed once.

Every attribute of token i is a function of a single word at a fixed offset from i (or of the
gazetteer tag at that offset). That keeps the per-form cache exact and lets the fast decoder in
``model.py`` add up cached per-form score vectors instead of looking strings up per token.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from akhbar.pipeline.ner.kb import KnowledgeBase
from akhbar.pipeline.ner.lexicon_data import Lexicon
from akhbar.pipeline.ner.text import clitic_splits, is_arabic, norm, strip_known, word_set

TITLES = word_set(
    "وزير الرئيس المبعوث نظيره نظيرته رئيس الملك الأمير الشيخ الدكتور د السيد السيدة نائب "
    "مستشار السفير المتحدث الناطق الأمين العقيد اللواء العميد الجنرال الزعيم الوزير المدير "
    "قائد المرشد البابا الممثل الملكة ولي الرئيسين المستشار النائب الكاتب المخرج الفنان "
    "المدرب اللاعب الإمام العاهل رئيسة وزيرة المندوب مندوب الحاخام القس المطران رئاسة معاون "
    "مساعد المبعوثة الممثلة",
    norm,
)
ORG_HEADS = word_set(
    "وزارة حركة تنظيم جبهة وكالة مجلس حزب جامعة شركة منظمة هيئة اتحاد جمعية لجنة مؤسسة بنك "
    "مصرف صندوق جيش قوات صحيفة قناة محكمة برنامج مركز معهد نادي مجموعة كتائب فيلق الوزارة "
    "الحركة الجبهة الوكالة المجلس الحزب الجامعة الشركة المنظمة الاتحاد صحيفه",
    norm,
)
LOC_HEADS = word_set(
    "مدينة عاصمة العاصمة محافظة منطقة بلدة قرية ولاية مقاطعة إقليم جزيرة بحر نهر جبل شمال "
    "جنوب شرق غرب ريف مخيم مدينه المدينة بلاد دولة",
    norm,
)
PAD_BEFORE = "<s>"
PAD_AFTER = "</s>"


# Head nouns that news puts before a name without it being part of the name (ANERcorp agrees:
# مدينة مشهد is tagged مشهد); a mention drops them when something is left.
NAME_DESCRIPTORS = word_set("مدينة قطاع حركة صحيفة جريدة قناة فضائية تنظيم مخيم", norm)


def trigger_class(nword: str) -> str:
    """T (title), O (organisation head), L (place head) or empty, looking through proclitics."""
    forms = [nword, *(rest for _, rest in clitic_splits(nword))]
    forms += [f[2:] for f in forms if f.startswith("ال")]
    for cls, words in (("T", TITLES), ("O", ORG_HEADS), ("L", LOC_HEADS)):
        if any(f in words for f in forms):
            return cls
    return ""


class WordFeatures(NamedTuple):
    """What one word contributes to its own token and to tokens 1 and 2 away on each side."""

    own: tuple[str, ...]
    as_prev: tuple[str, ...]  # attributes of the token right after this word
    as_next: tuple[str, ...]  # attributes of the token right before this word
    as_prev2: tuple[str, ...]
    as_next2: tuple[str, ...]


class FeatureExtractor:
    """Turns words into attribute strings, caching by surface form."""

    def __init__(self, kb: KnowledgeBase, lexicon: Lexicon) -> None:
        self.kb = kb
        self.lexicon = lexicon
        self._cache: dict[str, WordFeatures] = {}
        self.kb_tokens: dict[str, set[str]] = {}
        for entry in kb.entries.values():
            for spelling in (entry.name, *entry.variants):
                words = spelling.split()
                for pos, word in enumerate(words):
                    role = "f" if pos == 0 else ("l" if pos == len(words) - 1 else "m")
                    self.kb_tokens.setdefault(norm(word), set()).add(f"{entry.type}{role}")

    def known(self, nword: str) -> bool:
        """A form counts as a real word when arwiki uses it often or the KB lists it."""
        return self.lexicon.counts.get(nword, 0) >= 5 or nword in self.kb_tokens

    def stem(self, nword: str) -> tuple[str, str, bool]:
        """(proclitics, stem without them and without ال, whether ال was there)."""
        prefix, rest = strip_known(nword, self.known)
        has_al = rest.startswith("ال") and len(rest) > 4
        return prefix, rest[2:] if has_al else rest, has_al

    def forget(self) -> None:
        """Drop the per-form feature cache (the model bounds its size through this)."""
        self._cache.clear()

    def word(self, word: str) -> WordFeatures:
        cached = self._cache.get(word)
        if cached is None:
            cached = self._cache[word] = self._compute(word)
        return cached

    def _compute(self, word: str) -> WordFeatures:
        if word in (PAD_BEFORE, PAD_AFTER):
            return WordFeatures(
                (), (f"w-1={word}",), (f"w+1={word}",), (f"w-2={word}",), (f"w+2={word}",)
            )
        n = norm(word)
        prefix, stem, has_al = self.stem(n)
        full = "ال" + stem if has_al else stem
        trigger = trigger_class(n)
        count = self.lexicon.counts.get(full, 0)
        clusters = self.lexicon.clusters.get(full) or self.lexicon.clusters.get(n, ())
        own = [
            f"w={n}",
            f"s={stem}",
            f"p2={n[:2]}",
            f"p3={n[:3]}",
            f"x2={n[-2:]}",
            f"x3={n[-3:]}",
            f"sx2={stem[-2:]}",
            f"pc={prefix}",
            f"f={count.bit_length()}",
        ]
        if has_al:
            own.append("al")
        if not is_arabic(n):
            own.append("num" if n.isdigit() else "lat" if n.isalnum() else "pun")
        if trigger:
            own.append(f"t={trigger}")
        own.extend(f"c{i}={c}" for i, c in enumerate(clusters))
        own.extend(f"k={role}" for role in sorted(self.kb_tokens.get(full, ())))
        ctx1 = [f"w={n}", f"s={stem}", f"t={trigger}"]
        if clusters:
            ctx1.append(f"c={clusters[0]}")
        ctx2 = [f"w={n}", f"t={trigger}"]
        return WordFeatures(
            tuple(own),
            tuple("-1" + a for a in ctx1),
            tuple("+1" + a for a in ctx1),
            tuple("-2" + a for a in ctx2),
            tuple("+2" + a for a in ctx2),
        )

    def gazetteer_tags(self, words: Sequence[str]) -> list[str]:
        """BIO tags of KB matches over the words, ``O`` elsewhere."""
        tags = ["O"] * len(words)
        for m in self.kb.match([norm(w) for w in words]):
            tags[m.start] = "B-" + m.entry.type
            for i in range(m.start + 1, m.end):
                tags[i] = "I-" + m.entry.type
        return tags

    def sentence(self, words: Sequence[str]) -> list[list[str]]:
        """Attribute lists for crfsuite, one per word (used in training and as reference)."""
        feats = [self.word(w) for w in (PAD_BEFORE, PAD_BEFORE, *words, PAD_AFTER, PAD_AFTER)]
        gaz = self.gazetteer_tags(words)
        out: list[list[str]] = []
        for i in range(len(words)):
            j = i + 2
            attrs = [
                "b",
                *feats[j].own,
                *feats[j - 1].as_prev,
                *feats[j + 1].as_next,
                *feats[j - 2].as_prev2,
                *feats[j + 2].as_next2,
            ]
            attrs.append("g=" + gaz[i])
            attrs.append("g-1=" + (gaz[i - 1] if i else "<s>"))
            attrs.append("g+1=" + (gaz[i + 1] if i + 1 < len(gaz) else "</s>"))
            out.append(attrs)
        return out
