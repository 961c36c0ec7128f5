"""English labeler on two development sets (files named en_challenge*): each was written blind by a helper before
the rules were read, then the rules were fixed against it, so they now guard those fixes. Gold
labelled by the OpenI conventions: tests/data/en_challenge.md (217 short OpenI-style reports, varied negation,
hedging, synonyms and modifiers) and en_challenge2.md (200 full OpenI-style reports). Scored exactly as
`cxrlabel validate` scores the OpenI gold; the sentence cases keep the general gaps they exposed fixed.
en_challenge3 (390 full OpenI-style reports, en_challenge3.md) is still blind: written without reading the rules,
scored before the issue-11 rule work and after it, never fixed against; its floors are the after-figures."""

import io
from pathlib import Path

import pytest
from rich.console import Console

from cxrlabel.cli import labeler_options
from cxrlabel.types import Report, State
from cxrlabel.validation import run_validation

DATA = Path(__file__).parent / "data"


# set: (reports, ChestX-ray8 micro F1 floor, macro F1 (13 findings) floor). Before the fixes the first set scored
# 0.945 / 0.954, the second 0.989 / 0.997 (gold-corrected; 0.975 / 0.993 raw); both 1.000 / 1.000 after, and the
# floors are today's scores: any lost report label fails. The blind third set scored 0.956 / 0.971 before the
# issue-11 rule families and 0.971 / 0.985 after (no rule was written from it).
CHALLENGE_SETS = {"en_challenge": (217, 1.0, 1.0), "en_challenge2": (200, 1.0, 1.0),
                  "en_challenge3": (390, 0.971, 0.984)}


@pytest.fixture(scope="module", params=sorted(CHALLENGE_SETS))
def challenge(request):
    scores = run_validation(gold=str(DATA / f"{request.param}_gold.csv"), reports=DATA / f"{request.param}.csv",
                            lang="en", labels=None, options=labeler_options("en", "spacy"),
                            console=Console(file=io.StringIO()))
    return scores, CHALLENGE_SETS[request.param]


def test_all_challenge_reports_are_scored(challenge):
    scores, (n_reports, _, _) = challenge
    assert scores["n_reports"] == n_reports and scores["missing_reports"] == 0 and scores["failed_reports"] == 0


def test_challenge_f1_floors(challenge):
    scores, (_, chestxray8_floor, macro_floor) = challenge
    assert scores["chestxray8_micro"]["f1"] >= chestxray8_floor
    assert scores["macro_findings"]["f1"] >= macro_floor


@pytest.fixture(scope="module")
def labeler(en_labeler):
    return en_labeler  # the session's chestxray14 spaCy labeler (conftest.py), loaded once


@pytest.mark.parametrize(("text", "label", "state"), [
    ("Possible left lower lobe infiltrate.", "Infiltration", State.UNCERTAIN),
    ("Suspected left lower lobe pneumonia.", "Pneumonia", State.UNCERTAIN),
    ("Small left pleural effusion is not excluded.", "Effusion", State.UNCERTAIN),
    ("Left lower lobe pneumonia cannot be excluded.", "Pneumonia", State.UNCERTAIN),
    ("Left lower lobe atelectasis is not present.", "Atelectasis", State.NEGATIVE),
    ("Left pleural effusion is not seen.", "Effusion", State.NEGATIVE),
    ("Left pleural effusion is present.", "Effusion", State.POSITIVE),
    ("Resolved right lower lobe pneumonia.", "Pneumonia", State.NEGATIVE),
    ("Cleared right middle lobe infiltrate.", "Infiltration", State.NEGATIVE),
    ("Pneumothorax has been ruled out.", "Pneumothorax", State.NEGATIVE),
    ("Cardiomegaly seen previously is no longer present.", "Cardiomegaly", State.NEGATIVE),
    ("Right perihilar opacity, mass not excluded.", "Mass", State.UNCERTAIN),
    ("Pneumonia is a consideration.", "Pneumonia", State.UNCERTAIN),
    ("Right apical pneumothorax is questionable.", "Pneumothorax", State.UNCERTAIN),
    ("Small effusions are difficult to exclude.", "Effusion", State.UNCERTAIN),
    ("Right ptx, small.", "Pneumothorax", State.POSITIVE),
    ("Large left pneumothorax with partial collapse of the left lung.", "Atelectasis", State.POSITIVE),
    # found by the second set
    # the 'left' verb reading hangs the finding under the resolution noun / participle (acl, advcl)
    ("Compared to prior study dated XXXX, there is interval resolution of the previously described left lower "
     "lobe pneumonia.", "Pneumonia", State.NEGATIVE),
    ("Resolved left lower lobe pneumonia.", "Pneumonia", State.NEGATIVE),
    ("Resolving left lower lobe pneumonia.", "Pneumonia", State.POSITIVE),
    # abnormal without a ChestX-ray14 label: fluid in a fissure, a prominent heart, pericardial effusion
    ("There is a small amount of fluid in the right minor fissure.", "normal", State.NEGATIVE),
    ("There is a small amount of fluid in the right minor fissure.", "Effusion", None),
    ("The heart is prominent in size, likely accentuated by AP technique.", "normal", State.NEGATIVE),
    ("The heart is prominent in size, likely accentuated by AP technique.", "Cardiomegaly", None),
    ("Small pericardial effusion.", "normal", State.NEGATIVE),
    ("No pericardial effusion. The lungs are clear.", "normal", State.POSITIVE),
])
def test_challenge_gaps_stay_fixed(labeler, text, label, state):
    assert labeler.label_batch([Report("r", "", {"findings": text})])[0].labels.get(label) == state
