"""Train the CRF on ANERcorp (minus the held-out split) and write the model and its report.

``python -m akhbar.pipeline.ner.train``: deterministic (fixed split seed, L-BFGS from zero).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pycrfsuite

from akhbar.pipeline.ner.conll import tag_sentence
from akhbar.pipeline.ner.corpus import load_split
from akhbar.pipeline.ner.features import FeatureExtractor
from akhbar.pipeline.ner.kb import KnowledgeBase
from akhbar.pipeline.ner.lexicon_data import Lexicon
from akhbar.pipeline.ner.model import MODEL_DIR, MODEL_FILE, NerModel
from akhbar.pipeline.ner.scoring import micro_f1, predict, report_table
from akhbar.pipeline.stages.entities import EntityTagger

# Chosen on the validation split; c1 (L1) also prunes the feature set to keep the file small.
PARAMS = {"c1": 0.1, "c2": 0.01, "max_iterations": 200, "feature.possible_transitions": True}


def train(directory: Path = MODEL_DIR) -> str:
    """Train, save, and return the validation report in Markdown."""
    kb = KnowledgeBase.load()
    extractor = FeatureExtractor(kb, Lexicon.load(directory))
    train_set, validation = load_split()
    trainer = pycrfsuite.Trainer(verbose=False)
    for words, tags in train_set:
        trainer.append(extractor.sentence(words), tags)
    trainer.set_params(PARAMS)
    started = time.monotonic()
    trainer.train(str(directory / MODEL_FILE))
    seconds = time.monotonic() - started
    model = NerModel(directory / MODEL_FILE, extractor)
    stage = EntityTagger(model, kb)
    crf_pred = predict(model.tag, validation)
    stage_pred = predict(lambda words: tag_sentence(words, stage), validation)
    size = (directory / MODEL_FILE).stat().st_size
    n_tokens = sum(len(w) for w, _ in validation)
    return "\n".join(
        [
            "# NER validation report",
            "",
            f"Written by `python -m akhbar.pipeline.ner.train`. Held-out split: {len(validation)} "
            f"sentences, {n_tokens} tokens of ANERcorp train.txt (fixed seed, see corpus.py); "
            f"trained on the other {len(train_set)} sentences. MISC is trained as O. "
            "Scores are CoNLL exact span match (seqeval), PERS reported as PER.",
            "",
            f"CRF: {PARAMS}, {len(model._weights)} attributes kept, {size / 1e6:.2f} MB, "
            f"trained in {seconds:.0f} s.",
            "",
            "## Entity stage (CRF + KB gazetteer merge), as `akhbar tag --conll` runs it",
            "",
            report_table(validation, stage_pred),
            "",
            f"micro-F1: {micro_f1(validation, stage_pred):.4f}",
            "",
            "## CRF alone",
            "",
            report_table(validation, crf_pred),
            "",
            f"micro-F1: {micro_f1(validation, crf_pred):.4f}",
            "",
        ]
    )


def main() -> int:
    report = train()
    (MODEL_DIR / "VALIDATION.md").write_text(report, encoding="utf-8")
    print(report, file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
