"""CoNLL span scores (seqeval) for the validation report and the shipped-model test."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from seqeval.metrics import classification_report, f1_score

from akhbar.pipeline.ner.corpus import Sentence

Tagger = Callable[[list[str]], list[str]]


def predict(tagger: Tagger, sentences: Sequence[Sentence]) -> list[list[str]]:
    return [tagger(words) for words, _ in sentences]


def micro_f1(gold: Sequence[Sentence], predicted: list[list[str]]) -> float:
    return float(f1_score([tags for _, tags in gold], predicted, average="micro"))


def report_table(gold: Sequence[Sentence], predicted: list[list[str]]) -> str:
    """A Markdown table of per-type and micro precision, recall, F1 and support."""
    report = classification_report(
        [tags for _, tags in gold], predicted, output_dict=True, zero_division=0
    )
    rows = ["| type | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for name in ("PER", "LOC", "ORG", "micro avg"):
        r = report[name]
        rows.append(
            f"| {name} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1-score']:.3f} "
            f"| {int(r['support'])} |"
        )
    return "\n".join(rows)
