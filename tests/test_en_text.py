"""Sections and sentences of English reports (OpenI wording)."""

import pytest

from cxrlabel.en.sections import section_rules, split_sections
from cxrlabel.en.sentences import split_sentences
from cxrlabel.resources import load_yaml, rules_path
from cxrlabel.types import Report


def sections_of(text):
    return {s.name: s.text.strip() for s in split_sections(Report(id="r", text=text))}


def test_findings_and_impression_headers():
    text = ("INDICATION: Positive TB test\nFINDINGS: The cardiac silhouette and mediastinum size are within normal "
            "limits. There is no pulmonary edema.\nIMPRESSION: Normal chest x-XXXX.")
    found = split_sections(Report(id="1", text=text))
    assert [s.name for s in found] == ["findings", "impression"]  # indication is not labelled
    for section in found:
        assert text[section.offset:section.offset + len(section.text)] == section.text
    assert found[1].text.strip() == "Normal chest x-XXXX."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Findings: Lungs clear.\nImpressions: No acute disease.",
         {"findings": "Lungs clear.", "impression": "No acute disease."}),
        ("Comparison: None. Findings and impression: No pneumothorax.", {"findings": "No pneumothorax."}),
        ("CONCLUSION: Normal chest.", {"impression": "Normal chest."}),
        ("REPORT TEXT:  Heart size normal.", {"findings": "Heart size normal."}),
    ],
)
def test_header_variants(text, expected):
    assert sections_of(text) == expected


def test_every_header_variant_in_sections_yml_is_recognised():
    data = load_yaml(rules_path("en", "sections.yml"))
    rules = section_rules()
    for name, variants in data["headers"].items():
        for variant in variants:
            match = rules.header_pattern.match(f"{variant.upper()}: text")
            assert match, variant
            assert rules.header_names[match.group(1).lower()] == name


def test_fallback_to_whole_text():
    text = "Heart size normal. Lungs clear."
    assert sections_of(text) == {"text": text}
    # only unlabelled sections: the whole text is labelled
    only_history = "HISTORY: cough. Small left pleural effusion."
    assert sections_of(only_history) == {"text": only_history}


def test_sections_given_by_the_reader_are_used():
    report = Report(id="1", text="x", sections={"findings": "No effusion.", "impression": "Normal."})
    assert {s.name: s.text for s in split_sections(report)} == {"findings": "No effusion.", "impression": "Normal."}


def texts(text):
    return [s.text for s in split_sentences(text)]


def test_numbered_list_split_and_markers_dropped():
    text = "1. Stable cardiomegaly. 2. No acute pulmonary disease. 3. Small left pleural effusion."
    assert texts(text) == ["Stable cardiomegaly.", "No acute pulmonary disease.", "Small left pleural effusion."]
    lines = "\n1. Low lung volumes with bibasilar atelectasis.\n2. No pneumothorax."
    assert texts(lines) == ["Low lung volumes with bibasilar atelectasis.", "No pneumothorax."]


def test_abbreviations_do_not_end_sentences():
    text = ("Findings discussed with Dr. Smith at 3 p.m. on the day of the exam. No pneumothorax. "
            "There is a 2.5 cm nodule, unchanged vs. prior exam, i.e. stable.")
    assert texts(text) == [
        "Findings discussed with Dr. Smith at 3 p.m. on the day of the exam.",
        "No pneumothorax.",
        "There is a 2.5 cm nodule, unchanged vs. prior exam, i.e. stable.",
    ]


def test_openi_sentences_and_offsets():
    # OpenI report 10 findings, with its "abnormality.." double period
    text = ("The cardiomediastinal silhouette is within normal limits for size and contour. The lungs are normally "
            "inflated without evidence of focal airspace disease, pleural effusion, or pneumothorax. Stable "
            "calcified granuloma within the right upper lung. No acute bone abnormality..")
    sentences = split_sentences(text)
    assert len(sentences) == 4
    assert sentences[-1].text == "No acute bone abnormality."
    for sentence in sentences:
        assert text[sentence.start:sentence.start + len(sentence.text)] == sentence.text


def test_run_on_sentence_is_cut_below_the_parse_limit():
    """A pasted run-on text without full stops never reaches the parser as one huge sentence."""
    from cxrlabel.en.sentences import MAX_SENTENCE_CHARS

    clause = "the lungs are clear without focal consolidation, "
    text = clause * 200 + "small right pleural effusion"
    sentences = split_sentences(text)
    assert len(sentences) > 1
    assert all(len(s.text) <= MAX_SENTENCE_CHARS for s in sentences)
    assert all(text[s.start:s.start + len(s.text)] == s.text for s in sentences)
    assert sentences[-1].text.endswith("small right pleural effusion")
    unbroken = "x" * (3 * MAX_SENTENCE_CHARS)
    assert [len(s.text) for s in split_sentences(unbroken)] == [MAX_SENTENCE_CHARS] * 3
