"""One report-id column list (cxrlabel.readers.REPORT_ID_COLUMNS) for report tables, gold files and manifests."""

from pathlib import Path

import pytest

from cxrlabel.errors import UserError
from cxrlabel.imageset.pairing import from_manifest
from cxrlabel.labelsets import load_label_set
from cxrlabel.readers import REPORT_ID_COLUMNS, iter_reports
from cxrlabel.validation import OPENI_DIR, read_gold

SHIPPED = Path(__file__).parent / "data"


def ids(path, **options):
    return [item.id for item in iter_reports(path, **options)]


@pytest.mark.parametrize("column", REPORT_ID_COLUMNS)
def test_every_listed_id_column_is_found_in_any_case(tmp_path, column):
    path = tmp_path / "reports.csv"
    path.write_text(f" {column.upper()} ,findings\nA17,Small left effusion.\n")
    assert ids(path) == ["A17"]
    gold = tmp_path / "gold.csv"
    gold.write_text(f"{column.title()},Effusion\nA17,1\n")
    assert read_gold(gold, load_label_set("chestxray14"))[0] == {"A17": {"Effusion": 1}}


def test_the_first_listed_column_wins_in_the_documented_order(tmp_path):
    path = tmp_path / "reports.csv"
    path.write_text("filename,study_id,uid,id,report_id,text\nf.png,s1,u1,i1,r1,No effusion.\n")
    assert ids(path) == ["r1"]
    path.write_text("filename,uid,id,text\nf.png,u1,i1,No effusion.\n")
    assert ids(path) == ["i1"]


def test_shipped_tables_keep_the_id_column_they_had():
    # report tables: uid (OpenI, beside an `image` column), id (Chinese); gold: filename with its CXR prefix cut
    assert ids(OPENI_DIR / "reports_dev.csv")[:2] == ["1", "10"]
    assert ids(SHIPPED / "zh_real3.csv")[:2] == ["r000", "r001"]
    gold, _ = read_gold(OPENI_DIR / "gold_dev.csv", load_label_set("chestxray14"))
    assert set(gold) <= set(ids(OPENI_DIR / "reports_dev.csv")) and len(gold) > 100


def test_a_manifest_filename_is_the_image_not_the_report(tmp_path):
    manifest = tmp_path / "projections.csv"
    manifest.write_text("uid,filename,projection\n1,1_IM-0001-4001.dcm.png,Frontal\n")
    (ref,) = from_manifest(manifest)
    assert (ref.report_id, ref.relative, ref.view) == ("1", "1_IM-0001-4001.dcm.png", "Frontal")
    manifest.write_text("filename,projection\n1_IM-0001-4001.dcm.png,Frontal\n")
    with pytest.raises(UserError, match="no report id column"):
        list(from_manifest(manifest))


def test_a_gold_file_without_an_id_column_names_the_accepted_ones(tmp_path):
    gold = tmp_path / "gold.csv"
    gold.write_text("name,Effusion\nA17,1\n")
    with pytest.raises(UserError, match=r"gold.csv:1: gold needs an id column \(report_id or id or uid"):
        read_gold(gold, load_label_set("chestxray14"))
