"""Core English labeling behaviour on real OpenI sentences (end to end through the spaCy parser)."""

import pytest

from cxrlabel.en.labeler import EnglishLabeler
from cxrlabel.labelsets import load_label_set
from cxrlabel.types import Report, State


@pytest.fixture(scope="module")
def labeler():
    return EnglishLabeler(load_label_set("chestxray14"))


def labels_of(labeler, text):
    return labeler.label_batch([Report(id="r", text=text)])[0].labels


@pytest.mark.parametrize(
    ("sentence", "label", "state"),
    [
        ("No pneumothorax.", "Pneumothorax", State.NEGATIVE),
        ("No evidence of pneumothorax or effusion.", "Effusion", State.NEGATIVE),
        ("The lungs are clear of focal airspace disease, pneumothorax, or pleural effusion.", "Pneumothorax",
         State.NEGATIVE),
        ("There is a small right pleural effusion.", "Effusion", State.POSITIVE),
        ("Pneumonia cannot be excluded.", "Pneumonia", State.UNCERTAIN),
        ("Opacity may represent atelectasis.", "Atelectasis", State.UNCERTAIN),
        ("No change in the right pleural effusion.", "Effusion", State.POSITIVE),
        ("Mild cardiomegaly.", "Cardiomegaly", State.POSITIVE),
        ("The heart is mildly enlarged.", "Cardiomegaly", State.POSITIVE),
        # OpenI sentences: hedges that reach the finding through its adjective or an uncollapsed "due to"
        ("Mild blunting left costophrenic recess, possibly mild atelectasis or scarring.", "Atelectasis",
         State.UNCERTAIN),
        ("Streaky right basilar opacities, possibly due to airspace disease or atelectasis.", "Atelectasis",
         State.UNCERTAIN),
        ("Maybe due to pulmonary fibrosis, scarring and/or atelectasis.", "Atelectasis", State.UNCERTAIN),
        ("Heart appears prominent.", "Cardiomegaly", None),
    ],
)
def test_sentence_states(labeler, sentence, label, state):
    assert labels_of(labeler, sentence).get(label) == state


def test_normal_is_derived(labeler):
    normal = labels_of(labeler, "FINDINGS: Heart size is normal. The lungs are clear. IMPRESSION: No acute disease.")
    abnormal = labels_of(labeler, "FINDINGS: Stable calcified granuloma in the right upper lobe.")
    assert normal["normal"] == State.POSITIVE
    assert abnormal["normal"] == State.NEGATIVE


def test_mentions_carry_rule_and_span(labeler):
    result = labeler.label_batch([Report(id="r", text="No evidence of pneumothorax.")])[0]
    (mention,) = result.mentions
    assert mention.text == "pneumothorax"
    assert mention.sentence[mention.start:mention.end] == "pneumothorax"
    assert mention.rule_id.startswith("neg.")
