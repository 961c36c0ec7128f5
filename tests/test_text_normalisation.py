"""Text normalisation at the reader: control, format and ANSI characters or full-width letters anywhere in a
report never change its labels, and the evidence spans slice the text the pipeline saw."""

import csv
import json
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxrlabel.readers import iter_reports
from cxrlabel.textclean import clean_text
from cxrlabel.types import Report

OPENI = Path(__file__).parents[1] / "cxrlabel" / "data" / "openi" / "reports_dev.csv"
# Inserted anywhere, each must vanish: NUL, BEL, backspace, DEL, a C1 control, ANSI colour / reset / cursor
# codes, zero-width space / non-joiner / joiner, word joiner, soft hyphen, BOM, left-to-right mark.
NOISE = ["\x00", "\x07", "\x08", "\x7f", "\x9b", "\x1b[31m", "\x1b[0m", "\x1b[2K", "\u200b", "\u200c", "\u200d",
         "\u2060", "\u00ad", "\ufeff", "\u200e"]


@cache
def short_reports() -> tuple[tuple[str, str], ...]:
    """20 short real OpenI reports (findings + impression, under 300 characters) with their ids."""
    with open(OPENI, encoding="utf-8", newline="") as handle:
        rows = [(row["uid"], f"{row['findings']}\n{row['impression']}".strip()) for row in csv.DictReader(handle)]
    return tuple((uid, text) for uid, text in rows if 40 < len(text) < 300)[:20]


@cache
def labeler():
    from cxrlabel.en.labeler import EnglishLabeler
    from cxrlabel.labelsets import load_label_set

    return EnglishLabeler(load_label_set("chestxray14"))


def read_one(folder: Path, kind: str, report_id: str, text: str) -> Report:
    """Write one report as a .txt file, a CSV row or a JSONL line and read it back through the readers."""
    if kind == "txt":
        path = folder / f"{report_id}.txt"
        path.write_text(text, encoding="utf-8")
    elif kind == "csv":
        path = folder / "r.csv"
        with open(path, "w", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerows([["id", "text"], [report_id, text]])
    else:
        path = folder / "r.jsonl"
        path.write_text(json.dumps({"id": report_id, "text": text}) + "\n", encoding="utf-8")
    (report,) = iter_reports(path)
    assert isinstance(report, Report), report
    return report


def labels_of(report: Report) -> dict[str, str]:
    (result,) = labeler().label_batch([report])
    for mention in result.mentions:
        assert mention.sentence[mention.start:mention.end] == mention.text
        assert mention.sentence in report.text
    return {name: state.value for name, state in result.labels.items()}


def widen(char: str) -> str:
    """The full-width form of a printable ASCII character (Ａ for A)."""
    return chr(ord(char) + 0xFEE0) if "!" <= char <= "~" else char


@st.composite
def noisy_report(draw):
    index = draw(st.integers(0, len(short_reports()) - 1))
    report_id, text = short_reports()[index]
    chars = list(text)
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, len(chars) - 1))
        if draw(st.booleans()):
            chars.insert(position, draw(st.sampled_from(NOISE)))
        else:
            chars[position] = widen(chars[position])
    return report_id, text, "".join(chars)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=noisy_report(), kind=st.sampled_from(["txt", "csv", "jsonl"]))
def test_noise_anywhere_never_changes_a_reports_labels(tmp_path_factory, case, kind):
    report_id, original, noisy = case
    clean = read_one(tmp_path_factory.mktemp("clean"), kind, report_id, original)
    dirty = read_one(tmp_path_factory.mktemp("noisy"), kind, report_id, noisy)
    assert dirty.text == clean.text
    assert labels_of(dirty) == labels_of(clean)


@pytest.mark.parametrize(("name", "text", "effusion"), [
    ("NUL", "No\x00 pleural effusion.", "negative"),
    ("zero-width space", "No\u200b pleural effusion.", "negative"),
    ("BEL", "No\x07 pleural effusion.", "negative"),
    ("ANSI colour around the text", "\x1b[31mNo pleural effusion.\x1b[0m", "negative"),
    ("ANSI colour inside", "No\x1b[31m pleural effusion.", "negative"),
    ("full-width No", "\uff2e\uff4f pleural effusion.", "negative"),
    ("soft hyphen inside the finding", "Small left pleural effu\u00adsion.", "positive"),
])
@pytest.mark.parametrize("kind", ["txt", "csv", "jsonl"])
def test_the_reported_examples(tmp_path, name, text, effusion, kind):
    report = read_one(tmp_path, kind, "r1", text)
    assert labels_of(report).get("Effusion") == effusion, name


def test_clean_text():
    assert clean_text("No pleural effusion.") == "No pleural effusion."
    assert clean_text("No\x00 pleural\x1b[1;31m effu\u00adsion.\x1b[0m") == "No pleural effusion."
    assert clean_text("line one\u2028line two\r\n\tend") == "line one\nline two\r\n\tend"  # kept: \t \n \r
    assert clean_text("\ufeffＨｅａｒｔ size ﬁne") == "Heart size fine"  # BOM dropped, NFKC
    assert clean_text("两肺纹理增多，心影增大\u200b。") == "两肺纹理增多,心影增大。"
    assert clean_text("\x1b]0;title\x07Lungs clear.") == "Lungs clear."  # an OSC sequence


def test_ids_are_cleaned_too(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"id": "A\u200b17", "text": "No effusion."}) + "\n")
    (report,) = iter_reports(path)
    assert report.id == "A17"


def test_circled_list_numbers_survive_the_reader(tmp_path):
    """NFKC would glue ① into the text as a bare digit; kept, the Chinese normaliser splits at it, so the
    negation of the first item does not reach the second."""
    from cxrlabel.labelsets import load_label_set
    from cxrlabel.zh.labeler import ChineseLabeler

    assert clean_text("①未见胸腔积液②心影增大，ｃｍ") == "①未见胸腔积液②心影增大,cm"
    table = tmp_path / "r.csv"
    table.write_text("id,findings,diagnosis\nr1,①两肺纹理清晰②心影增大,①未见胸腔积液②心影增大\n", encoding="utf-8")
    (report,) = iter_reports(table)
    (result,) = ChineseLabeler(load_label_set("dong10")).label_batch([report])
    assert result.labels["increased_heart_shadow"].value == "positive"
    assert result.labels["normal"].value == "negative"
