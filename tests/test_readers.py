"""Readers: .txt folders, CSV (OpenI layout and named columns), JSONL, and every kind of bad input."""

import json
import random

import pytest

from cxrlabel.errors import UserError
from cxrlabel.readers import iter_reports
from cxrlabel.types import ReadError, Report

# OpenI report 1 (cxrlabel/data/openi/reports_dev.csv), findings and impression.
FINDINGS_1 = ("The cardiac silhouette and mediastinum size are within normal limits. There is no pulmonary edema. "
              "There is no focal consolidation. There are no XXXX of a pleural effusion. "
              "There is no evidence of pneumothorax.")
IMPRESSION_1 = "Normal chest x-XXXX."


def by_id(items):
    return {item.id: item for item in items}


def test_txt_folder_ids_are_stems_and_other_files_are_errors(tmp_path):
    (tmp_path / "1.txt").write_text(f"FINDINGS: {FINDINGS_1}\nIMPRESSION: {IMPRESSION_1}\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "77.txt").write_text("Heart size normal. No pneumothorax.")
    (tmp_path / "notes.docx").write_bytes(b"PK\x03\x04")
    (tmp_path / ".hidden.txt").write_text("ignored")
    items = by_id(iter_reports(tmp_path))
    assert set(items) == {"1", "77", "notes"}
    assert isinstance(items["1"], Report) and "no evidence of pneumothorax" in items["1"].text
    assert items["1"].source == "1.txt"
    assert items["77"].text == "Heart size normal. No pneumothorax."
    error = items["notes"]
    assert isinstance(error, ReadError)
    assert "not a report file" in error.reason and "notes.docx" in error.reason


def test_empty_folder_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no files"):
        list(iter_reports(tmp_path))


def test_missing_path_and_unsupported_file_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        iter_reports(tmp_path / "absent")
    (tmp_path / "reports.xlsx").write_bytes(b"xx")
    with pytest.raises(UserError, match="unsupported input"):
        iter_reports(tmp_path / "reports.xlsx")


def test_openi_csv_layout_gives_sections(tmp_path):
    path = tmp_path / "openi.csv"
    path.write_text(
        "uid,image,indication,comparison,findings,impression\n"
        f'1,Xray Chest PA and Lateral,Positive TB test,None.,"{FINDINGS_1}",{IMPRESSION_1}\n'
        '2,x,y,z,,"No acute cardiopulmonary abnormality."\n'
    )
    items = by_id(iter_reports(path))
    assert items["1"].sections == {"findings": FINDINGS_1, "impression": IMPRESSION_1}
    assert "Positive TB test" not in items["1"].text  # indication is not report text
    assert items["1"].source == "openi.csv:2"
    assert items["2"].sections == {"impression": "No acute cardiopulmonary abnormality."}


def test_csv_named_columns(tmp_path):
    path = tmp_path / "named.csv"
    path.write_text("accession_no,body,other\nA17,No pneumothorax.,x\nA18,Small left effusion.,y\n")
    with pytest.raises(UserError, match="report id"):
        list(iter_reports(path))  # no recognisable id column
    items = by_id(iter_reports(path, id_column="accession_no", text_columns=["body"]))
    assert items["A17"].text == "No pneumothorax."
    assert items["A17"].sections == {}  # plain text column: sections are found in the text later
    assert items["A18"].text == "Small left effusion."


@pytest.mark.parametrize(("id_column", "text_columns", "missing"),
                         [("accession", ["body"], "accession"), ("accession_no", ["report"], "report")])
def test_csv_missing_named_column_is_a_user_error(tmp_path, id_column, text_columns, missing):
    path = tmp_path / "named.csv"
    path.write_text("accession_no,body\nA17,No pneumothorax.\n")
    with pytest.raises(UserError, match=f"'{missing}'") as info:
        list(iter_reports(path, id_column=id_column, text_columns=text_columns))
    assert "columns: accession_no, body" in str(info.value)


def test_tsv_is_read_by_suffix(tmp_path):
    path = tmp_path / "r.tsv"
    path.write_text("id\ttext\nr1\tNo focal consolidation, no effusion.\n")
    (report,) = iter_reports(path)
    assert (report.id, report.text) == ("r1", "No focal consolidation, no effusion.")


def test_jsonl_with_a_bad_line(tmp_path):
    path = tmp_path / "r.jsonl"
    lines = [json.dumps({"id": "a", "findings": FINDINGS_1, "impression": IMPRESSION_1}),
             '{"id": "b", "findings": "No pneumothorax."',  # truncated
             "",
             json.dumps(["not", "an", "object"]),
             json.dumps({"id": "c", "findings": "Mild cardiomegaly."})]
    path.write_text("\n".join(lines) + "\n")
    items = list(iter_reports(path))
    assert [type(i).__name__ for i in items] == ["Report", "ReadError", "ReadError", "Report"]
    assert items[0].sections == {"findings": FINDINGS_1, "impression": IMPRESSION_1}
    assert items[1].id == "r.jsonl:2" and items[1].reason.startswith("bad JSON line")
    assert items[2].id == "r.jsonl:4" and "not a JSON object" in items[2].reason
    assert items[3].id == "c"


def test_empty_and_whitespace_reports(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "blank.txt").write_text("  \n\t \n")
    csv_path = tmp_path / "t.csv"
    csv_path.write_text('uid,findings,impression\n5,"   ",\n6,,No acute disease.\n')
    folder = by_id(iter_reports(tmp_path / "empty.txt")) | by_id(iter_reports(tmp_path / "blank.txt"))
    table = by_id(iter_reports(csv_path))
    for item in (folder["empty"], folder["blank"], table["5"]):
        assert isinstance(item, ReadError) and item.reason == "empty report"
    assert isinstance(table["6"], Report)


def test_record_without_id_is_an_error(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("uid,findings\n,No effusion.\n")
    (item,) = iter_reports(path)
    assert isinstance(item, ReadError) and item.reason == "record has no id" and item.source == "t.csv:2"


def test_undecodable_txt_file(tmp_path):
    rng = random.Random(7)
    (tmp_path / "binary.txt").write_bytes(bytes(rng.randrange(256) for _ in range(300)))
    (item,) = iter_reports(tmp_path)
    assert isinstance(item, ReadError) and "undecodable" in item.reason


def test_one_corrupt_csv_row_goes_to_errors_and_the_rest_stays_utf8(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"uid,findings\n1,No effusion \xff\xfe.\n" + "2,Lungs clear. 心影不大。\n".encode())
    items = by_id(iter_reports(path))
    assert isinstance(items["1"], ReadError)
    assert items["2"].text == "Lungs clear. 心影不大。"


def test_a_latin1_table_with_one_accented_row_is_decoded_not_rejected(tmp_path):
    path = tmp_path / "latin.csv"
    rows = "".join(f"{i},Lungs are clear.\n" for i in range(2, 40))
    path.write_bytes(("uid,findings\n" + rows + "1,Status post Whipple procédure. No effusion.\n").encode("cp1252"))
    items = by_id(iter_reports(path))
    assert items["1"].text == "Status post Whipple procédure. No effusion."


def test_one_corrupt_row_in_a_gb18030_table_goes_to_errors(tmp_path):
    path = tmp_path / "gbk.csv"
    rows = "".join(f"{i},双肺纹理清晰，心影不大。\n" for i in range(3, 60))
    path.write_bytes(b"uid,findings\n" + b"1,\xff\xff\n" + rows.encode("gb18030"))
    items = by_id(iter_reports(path))
    assert isinstance(items["1"], ReadError)
    assert items["3"].text == "双肺纹理清晰,心影不大。"  # NFKC: full-width comma → ","


def test_max_chars(tmp_path):
    sentence = "The lungs are clear. "
    (tmp_path / "long.txt").write_text(sentence * (200_000 // len(sentence) + 1))
    (tmp_path / "short.txt").write_text(sentence)
    items = by_id(iter_reports(tmp_path))
    assert isinstance(items["long"], ReadError)
    assert "over the limit of 100000" in items["long"].reason and "--max-chars" in items["long"].reason
    assert isinstance(items["short"], Report)
    assert isinstance(by_id(iter_reports(tmp_path, max_chars=300_000))["long"], Report)


def test_gb18030_file_is_decoded(tmp_path):
    text = "FINDINGS: 双肺纹理清晰，心影不大。 No pleural effusion."
    (tmp_path / "gb.txt").write_bytes(text.encode("gb18030"))
    csv_path = tmp_path / "gb.csv"
    csv_path.write_bytes(f"id,findings\nz1,{text}\n".encode("gb18030"))
    (from_txt,) = iter_reports(tmp_path / "gb.txt")
    (from_csv,) = iter_reports(csv_path)
    normalised = text.replace("，", ",")  # NFKC at the reader
    assert from_txt.text == normalised
    assert from_csv.sections == {"findings": normalised}


def test_utf8_bom_csv(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("uid,findings\n9,Mild cardiomegaly.\n".encode("utf-8-sig"))
    (report,) = iter_reports(path)
    assert (report.id, report.text) == ("9", "Mild cardiomegaly.")



def test_records_merged_by_a_stray_quote_go_to_errors_with_their_lines(tmp_path):
    path = tmp_path / "t.csv"
    # a quote opened in the first record closes at the end of the next one, which it swallows
    path.write_text('uid,findings\n1,"No effusion.\n2,Large left effusion."\n3,Lungs clear.\n')
    items = list(iter_reports(path))
    assert [type(item).__name__ for item in items] == ["ReadError", "Report"]
    assert items[0].reason.startswith("lines 2-3: a field holds a line that starts like a record")
    assert items[1].id == "3" and items[1].source == "t.csv:4"


def test_empty_trailing_fields_are_not_a_merge(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("uid,findings\n1,No effusion.,,\n2,Mild cardiomegaly.,x\n")
    items = by_id(iter_reports(path))
    assert items["1"].text == "No effusion."
    assert isinstance(items["t.csv:3"], ReadError) and "3 fields where the header has 2" in items["t.csv:3"].reason
