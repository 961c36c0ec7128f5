"""Finding vocabularies: inflection, multi-word phrases, exclusions, and every shipped file."""

import re

import pytest

from cxrlabel.en.labeler import EnglishLabeler
from cxrlabel.en.vocabulary import find_mentions, load_finding, load_vocabulary, phrase_regex
from cxrlabel.errors import UserError
from cxrlabel.labelsets import load_label_set
from cxrlabel.resources import load_yaml, rules_path
from cxrlabel.types import Report, State


@pytest.fixture(scope="module")
def vocabulary():
    return load_vocabulary()


def found(text, vocabulary):
    return {(m.finding, m.text) for m in find_mentions(text, vocabulary)}


@pytest.mark.parametrize(
    ("phrase", "inflected"),
    [("effusion", "effusions"), ("opacity", "opacities"), ("atelectasis", "atelectases"),
     ("pleural effusion", "pleural-effusions"), ("infiltrate", "infiltrates"), ("mass", "masses"),
     ("granuloma", "granulomas"), ("bronchiectasis", "bronchiectases")],
)
def test_phrase_inflection(phrase, inflected):
    pattern = re.compile(phrase_regex(phrase), re.IGNORECASE)
    assert pattern.fullmatch(phrase) and pattern.fullmatch(inflected)
    assert not pattern.fullmatch(phrase + "x")


def test_plural_mentions_in_openi_sentences(vocabulary):
    assert ("pleural_effusion", "pleural effusions") in found("Small bilateral pleural effusions.", vocabulary)
    assert ("lung_opacity", "opacities") in found("Patchy opacities in both lung bases.", vocabulary)
    assert ("atelectasis", "atelectases") in found("Bibasilar atelectases.", vocabulary)
    assert ("nodule", "pulmonary nodules") in found("Multiple pulmonary nodules.", vocabulary)


@pytest.mark.parametrize("sentence", [
    "Further fibrosis and collapse of the left upper lobe.",  # OpenI
    "Partial collapse of the left upper and lower lobes.",
    "Large pneumothorax and collapse of substantial portion of left lung.",  # OpenI
    "In the collapsed left upper lobe are stranding and pneumatoceles.",  # OpenI
    "The right middle lobe remains partially collapsed.",
])
def test_lung_collapse_is_atelectasis(vocabulary, sentence):
    assert any(finding == "atelectasis" for finding, _ in found(sentence, vocabulary))


def test_collapse_without_a_lung_part_is_not_atelectasis(vocabulary):
    assert not any(f == "atelectasis" for f, _ in found("Mild compression collapse of T8 vertebral body.", vocabulary))


def test_exclusions(vocabulary):
    assert not any(f == "pleural_effusion" for f, _ in found("Small pericardial effusion.", vocabulary))
    assert not any(f == "emphysema" for f, _ in found("Subcutaneous emphysema in the left chest wall.", vocabulary))
    # the excluded phrase does not veto a real mention elsewhere in the sentence
    mixed = found("Emphysema. Subcutaneous emphysema in the left chest wall.", vocabulary)
    assert ("emphysema", "Emphysema") in mixed
    assert ("pleural_effusion", "effusion") in found("Pericardial effusion and left effusion.", vocabulary)


def test_word_boundaries(vocabulary):
    findings = {f for f, _ in found("Massive hiatal hernia.", vocabulary)}
    assert "hernia" in findings and "mass" not in findings


FINDING_FILES = sorted(rules_path("en", "findings").glob("*.yml"))


def first_phrase(finding: str) -> str:
    return load_yaml(rules_path("en", "findings", f"{finding}.yml"))["phrases"][0]


@pytest.mark.parametrize("path", FINDING_FILES, ids=[p.stem for p in FINDING_FILES])
def test_every_phrase_of_a_finding_file_finds_that_finding(path, vocabulary):
    """In a report sentence, each listed phrase is a mention of its finding (not lost to another finding's longer
    phrase or to an exclusion), and each `exclude` phrase is none."""
    finding = load_finding(path)
    assert finding.name == path.stem
    assert all(re.fullmatch(r"C\d{7}", cui) for cui in finding.cuis)
    data = load_yaml(path)
    for phrase in data["phrases"]:
        assert (finding.name, phrase) in found(f"There is {phrase} on the radiograph.", vocabulary)
    for phrase in data.get("exclude") or []:
        assert finding.name not in {name for name, _ in found(f"There is {phrase} on the radiograph.", vocabulary)}


@pytest.mark.parametrize("label_set", ["chestxray14", "chexpert"])
def test_each_english_label_is_positive_for_its_findings_phrases(label_set):
    """Through the labeler: "There is <first phrase of a finding>." makes the label listing that finding positive."""
    labeler = EnglishLabeler(load_label_set(label_set))
    cases = [(label.name, Report(id=finding, text=f"IMPRESSION: There is {first_phrase(finding)}."))
             for label in labeler.label_set.labels if not label.derived for finding in label.findings]
    assert len(cases) >= 14
    for (label, report), result in zip(cases, labeler.label_batch([r for _, r in cases]), strict=True):
        assert result.labels[label] == State.POSITIVE, report.text


def test_bad_vocabulary_file(tmp_path):
    path = tmp_path / "empty.yml"
    path.write_text("name: empty\ncuis: []\n")
    with pytest.raises(UserError, match=rf"^{path}:1: a finding needs phrases or regex"):
        load_finding(path)


# Radiographic signs that name a finding, and bone densities that are not lung opacity (wording families added
# from radiology terminology, not from failing sentences).
@pytest.mark.parametrize(("sentence", "finding", "expected"), [
    ("Kerley B lines are present at both lung bases.", "edema", True),
    ("Septal lines at the right base.", "edema", True),
    ("Diffuse bilateral alveolar opacities with air bronchograms.", "consolidation", False),
    ("A visceral pleural line is seen at the right apex.", "pneumothorax", True),
    ("Sclerotic density in the T8 vertebral body, likely a bone island.", "lung_opacity", False),
    ("Corticated bony density over the lateral clavicle.", "lung_opacity", False),
    ("Nodular density projecting over the anterior left 4th rib.", "lung_opacity", True),
    ("Sclerotic nodule in the right 5th rib.", "nodule", False),
    ("Expansile rib mass on the left.", "mass", False),
    ("Right upper lobe nodule.", "nodule", True),
    ("Large right hilar mass.", "mass", True),
    ("Enlarged left ventricle.", "cardiomegaly", False),
    ("Heart size is normal to slightly enlarged.", "cardiomegaly", True),
    ("The cardiac silhouette is borderline versus mildly enlarged.", "cardiomegaly", True),
    ("Heart size is normal.", "cardiomegaly", False),
])
def test_sign_and_bone_wording_families(vocabulary, sentence, finding, expected):
    assert any(f == finding for f, _ in found(sentence, vocabulary)) == expected
