"""The shipped CRF: loads, decodes exactly as crfsuite does, and scores ≥ 0.80 on held-out data."""

from __future__ import annotations

import re

import pycrfsuite
import pytest

from akhbar.pipeline.ner.conll import tag_sentence
from akhbar.pipeline.ner.corpus import ANERCORP_TRAIN, load_split
from akhbar.pipeline.ner.model import MODEL_DIR, MODEL_FILE
from akhbar.pipeline.ner.scoring import micro_f1, predict
from akhbar.pipeline.stages.entities import EntityTagger

pytestmark = pytest.mark.skipif(not ANERCORP_TRAIN.exists(), reason="ANERcorp not mounted")


@pytest.fixture(scope="module")
def tagger() -> EntityTagger:
    return EntityTagger.load_default()


@pytest.fixture(scope="module")
def validation() -> list[tuple[list[str], list[str]]]:
    return load_split()[1]


def test_model_file_is_small() -> None:
    assert (MODEL_DIR / MODEL_FILE).stat().st_size < 5_000_000


def test_fast_decoder_agrees_with_crfsuite(tagger: EntityTagger, validation: list) -> None:
    reference = pycrfsuite.Tagger()
    reference.open(str(MODEL_DIR / MODEL_FILE))
    extractor = tagger.model.extractor
    for words, _ in validation:
        assert tagger.model.tag(words) == reference.tag(extractor.sentence(words)), words


def test_batched_decoding_equals_crfsuite_sentence_by_sentence(
    tagger: EntityTagger, validation: list
) -> None:
    """One call over many sentences (as the stage tags an article) keeps them independent."""
    reference = pycrfsuite.Tagger()
    reference.open(str(MODEL_DIR / MODEL_FILE))
    extractor = tagger.model.extractor
    sentences = [words for words, _ in validation[:200]]
    sentences.insert(3, [])  # an empty sentence in the batch changes nothing
    gazetteer = [extractor.gazetteer_tags(words) for words in sentences]
    batched = tagger.model.tag_many(sentences, gazetteer)
    expected = [reference.tag(extractor.sentence(words)) if words else [] for words in sentences]
    assert batched == expected


def test_stage_scores_at_least_080_on_the_held_out_split(
    tagger: EntityTagger, validation: list
) -> None:
    predicted = predict(lambda words: tag_sentence(words, tagger), validation)
    assert micro_f1(validation, predicted) >= 0.80


def test_validation_report_matches_a_rescore(tagger: EntityTagger, validation: list) -> None:
    report = (MODEL_DIR / "VALIDATION.md").read_text(encoding="utf-8")
    reported = float(re.findall(r"micro-F1: ([0-9.]+)", report)[0])
    predicted = predict(lambda words: tag_sentence(words, tagger), validation)
    assert micro_f1(validation, predicted) == pytest.approx(reported, abs=1e-4)


def test_word_caches_stay_bounded_and_tags_do_not_change(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MAX_CACHED_FORMS the caches start afresh; the tags of a sentence stay the same."""
    from akhbar.pipeline.ner import model as model_module
    from akhbar.pipeline.stages.entities import EntityTagger

    ner = EntityTagger.load_default().model
    sentence = ["وقال", "وزير", "الخارجية", "الروسي", "سيرغي", "لافروف", "في", "موسكو"]
    before = ner.tag(sentence)
    monkeypatch.setattr(model_module, "MAX_CACHED_FORMS", 40)
    for start in range(0, 400, 20):
        ner.tag([f"كلمة{n}" for n in range(start, start + 20)])
        assert len(ner._rows) <= 40 + 20 + 2  # at most one call's new forms past the bound
    assert len(ner.extractor._cache) <= 40 + 20 + 2
    assert ner.tag(sentence) == before
