"""Per-report aggregation of mention states, the derived normal label, and label sets."""

import pytest

from cxrlabel.en.labeler import EnglishLabeler
from cxrlabel.labelsets import load_label_set
from cxrlabel.types import Report, State


def labels(labeler, text):
    return labeler.label_batch([Report(id="r", text=text)])[0].labels


def test_report_aggregation_across_sentences(en_labeler):
    text = ("FINDINGS: No pleural effusion on the left. There is a small right pleural effusion. "
            "Pneumonia cannot be excluded. No pneumonia in the left lung. No pneumothorax.\n"
            "IMPRESSION: No evidence of pneumothorax.")
    result = labels(en_labeler, text)
    assert result["Effusion"] == State.POSITIVE
    assert result["Pneumonia"] == State.UNCERTAIN
    assert result["Pneumothorax"] == State.NEGATIVE
    assert "Cardiomegaly" not in result  # not mentioned
    assert result["normal"] == State.NEGATIVE


def test_mentions_keep_section_and_sentence(en_labeler):
    text = "FINDINGS: Heart size is normal. There is no pneumothorax.\nIMPRESSION: Mild cardiomegaly."
    mentions = en_labeler.label_batch([Report(id="r9", text=text)])[0].mentions
    found = {(m.report_id, m.section, m.sentence, m.text, m.state) for m in mentions}
    assert found == {("r9", "findings", "There is no pneumothorax.", "pneumothorax", State.NEGATIVE),
                     ("r9", "impression", "Mild cardiomegaly.", "cardiomegaly", State.POSITIVE)}
    for mention in mentions:
        assert mention.sentence[mention.start:mention.end] == mention.text


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("The lungs are clear. No pneumothorax or pleural effusion. Heart size normal.", State.POSITIVE),
        ("Heart size is normal.", State.POSITIVE),  # nothing mentioned at all
        # granuloma is no ChestX-ray14 label, but it is an abnormal finding of the full vocabulary
        ("Stable calcified granuloma in the right upper lobe.", State.NEGATIVE),
        ("Possible small left pleural effusion.", State.NEGATIVE),  # uncertain also counts
        # OpenI wording; general terms added to the vocabulary of abnormal findings
        ("The lungs are clear. The skeletal structures show arthritic changes.", State.NEGATIVE),
        ("The heart is normal in size. There is bihilar prominence. The lungs are clear.", State.NEGATIVE),
        ("Bilateral prominent lung vascularity.", State.NEGATIVE),
        ("Previously identified small right pneumothorax is no longer visualized.", State.POSITIVE),
    ],
)
def test_normal_is_derived_from_the_full_vocabulary(en_labeler, text, normal):
    assert labels(en_labeler, text)["normal"] == normal


def test_chexpert_label_set_maps_findings():
    labeler = EnglishLabeler(load_label_set("chexpert"))
    result = labels(labeler, "Right lower lobe consolidation. No pneumothorax. Mild cardiomegaly.")
    assert result["Consolidation"] == State.POSITIVE
    assert result["Lung Opacity"] == State.POSITIVE  # consolidation counts towards Lung Opacity
    assert result["Enlarged Cardiomediastinum"] == State.POSITIVE
    assert result["Pneumothorax"] == State.NEGATIVE
    assert result["No Finding"] == State.NEGATIVE
    assert "Pleural Effusion" not in result


def test_batch_keeps_order_and_only_mention_sentences_are_parsed(en_labeler):
    reports = [Report(id=str(i), text=t) for i, t in enumerate(
        ["No pneumothorax.", "Heart size is normal. The osseous structures are intact.", "Mild cardiomegaly."])]
    results = en_labeler.label_batch(reports)
    assert [r.report_id for r in results] == ["0", "1", "2"]
    assert results[1].mentions == []
    parsed = []
    original = en_labeler.parser.parse

    def counting(sentences):
        parsed.extend(sentences)
        return original(sentences)

    en_labeler.parser.parse = counting
    try:
        en_labeler.label_batch([Report(id="x", text="The osseous structures are intact. No acute bony findings. "
                                                    "Small left apical pneumothorax persists.")])
    finally:
        del en_labeler.parser.parse
    assert parsed == ["Small left apical pneumothorax persists."]



def test_a_chinese_report_is_refused_not_labelled_normal(en_labeler):
    """A Chinese report mined with --lang en goes to errors.csv instead of being labelled normal."""
    from cxrlabel.types import LabelError

    reports = [Report(id="zh", text="两肺纹理增多，心影不大。"),
               Report(id="mixed", text="CT示两肺纹理增多，心影不大，未见胸腔积液。"),
               Report(id="en", text="No pleural effusion. 正常")]
    zh, mixed, en = en_labeler.label_batch(reports)
    assert isinstance(zh, LabelError) and zh.reason.startswith("no English text")
    assert isinstance(mixed, LabelError) and mixed.reason.startswith("not an English report")
    assert en.labels["Effusion"].value == "negative"
