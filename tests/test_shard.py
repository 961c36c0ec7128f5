"""`--shard I/N` on mine and build, and `cxrlabel merge`: N shards joined give what one unsharded run gives, a record
stays in its shard whatever the input order, and every wrong merge or --shard value is refused on one line."""

import csv
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cxrlabel.cli import app
from cxrlabel.errors import UserError
from cxrlabel.sharding import Shard, parse_shard, patient_key, shard_of
from tests.test_registry_core_install import run_core

REAL3 = Path(__file__).parent / "data" / "zh_real3.csv"
STREAMS = ("labels.csv", "mentions.jsonl", "errors.csv")


def invoke(*args) -> object:
    return CliRunner().invoke(app, [str(arg) for arg in args])


def lines(path: Path) -> list[str]:
    """A file's records without a CSV's header (no field of these files spans lines)."""
    text = path.read_text(encoding="utf-8").splitlines()
    return text[1:] if path.suffix == ".csv" else text


def reports_with_faults(tmp_path: Path, reverse: bool = False) -> Path:
    """zh_real3 (137 real-style reports) plus an empty report, a duplicate id and a record without id, so errors.csv
    has rows too; `reverse`: the same records in the opposite order."""
    with open(REAL3, encoding="utf-8", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    blank = [""] * (len(header) - 3)
    rows += [["empty1", "", "", *blank], [rows[5][0], "两肺纹理增多。", "", *blank], ["", "心影增大。", "", *blank]]
    path = tmp_path / ("reversed.csv" if reverse else "reports.csv")
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([header, *(reversed(rows) if reverse else rows)])
    return path


def mine(reports: Path, out: Path, *extra: str) -> dict:
    result = invoke("mine", reports, "--lang", "zh", "--out", out, *extra)
    assert result.exit_code == 0, result.output
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def mined(tmp_path_factory):
    """The unsharded run and its 3 shards (as a Slurm array would run them) of the same input."""
    tmp = tmp_path_factory.mktemp("mined")
    reports = reports_with_faults(tmp)
    mine(reports, tmp / "full")
    for index in (1, 2, 3):
        mine(reports, tmp / f"s{index}", "--shard", f"{index}/3")
    return tmp


def test_three_shards_merged_equal_the_unsharded_run(mined, tmp_path):
    out = tmp_path / "merged"
    result = invoke("merge", out, mined / "s3", mined / "s1", mined / "s2")  # any order on the command line
    assert result.exit_code == 0, result.output
    full = json.loads((mined / "full" / "summary.json").read_text())
    merged = json.loads((out / "summary.json").read_text())
    for name in STREAMS:
        everything = lines(mined / "full" / name)
        shards = [lines(mined / f"s{index}" / name) for index in (1, 2, 3)]
        assert sorted(lines(out / name)) == sorted(everything), name  # the same rows
        assert lines(out / name) == shards[0] + shards[1] + shards[2], name  # in shard order 1..3
        for rows in shards:  # within a shard, in input order
            assert rows == [row for row in everything if row in set(rows)], name
    assert len(lines(out / "errors.csv")) == 3 and len(lines(out / "labels.csv")) == 137
    assert all(part for part in (lines(mined / f"s{index}" / "labels.csv") for index in (1, 2, 3)))
    assert (out / "labels.csv").read_text().splitlines()[0] == (mined / "full" / "labels.csv").read_text(
        ).splitlines()[0]
    for key in ("reports_read", "reports_written", "reports_failed", "counts", "lang", "label_set", "input"):
        assert merged[key] == full[key], key
    assert merged["complete"] is True and merged["merged_from"]["count"] == 3
    assert merged["merged_from"]["key"] == "report id" and "shard" not in merged and "shard" not in full


def test_a_report_keeps_its_shard_when_the_input_is_reordered(mined, tmp_path):
    reordered = reports_with_faults(tmp_path, reverse=True)
    mine(reordered, tmp_path / "s2", "--shard", "2/3")
    assert sorted(lines(tmp_path / "s2" / "labels.csv")) == sorted(lines(mined / "s2" / "labels.csv"))
    assert sorted(lines(tmp_path / "s2" / "mentions.jsonl")) == sorted(lines(mined / "s2" / "mentions.jsonl"))
    ids = [row.split(",")[0] for row in lines(tmp_path / "s2" / "labels.csv")]
    assert all(shard_of(report_id, 3) == 2 for report_id in ids)  # the report id decides, not the position


def one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) <= 2  # one message (the console may wrap a long path)
    for fragment in fragments:
        assert fragment in " ".join(result.output.split()), result.output


def test_merge_refuses_missing_duplicate_foreign_and_unfinished_shards(mined, tmp_path):
    out = tmp_path / "merged"
    one_line_error(invoke("merge", out, mined / "s1", mined / "s3"), "shard(s) 2 of 3 missing")
    one_line_error(invoke("merge", out, mined / "s1", mined / "s2", mined / "s2", mined / "s3"),
                   "shard 2/3 given twice")
    one_line_error(invoke("merge", out, mined / "full", mined / "s2"), "not the output of `cxrlabel mine --shard")
    reports = mined / "reports.csv"
    other_n = tmp_path / "other_n"
    mine(reports, other_n, "--shard", "2/2")
    one_line_error(invoke("merge", out, mined / "s1", other_n, mined / "s3"), "a shard of 2")
    other_set = tmp_path / "regions"
    mine(reports, other_set, "--shard", "2/3", "--labels", "regions5")
    one_line_error(invoke("merge", out, mined / "s1", other_set, mined / "s3"), "label_set 'regions5' differs")
    other_input = tmp_path / "other_input"
    mine(REAL3, other_input, "--shard", "2/3")
    one_line_error(invoke("merge", out, mined / "s1", other_input, mined / "s3"), "input")
    changed = reports_with_faults(tmp_path)  # the input file changed between two shards of the same command
    mine(changed, tmp_path / "before", "--shard", "1/2")
    with open(changed, "a", encoding="utf-8") as handle:
        handle.write("late1,两肺纹理增多。,,,,,,,,,,,,,,,,\n")
    mine(changed, tmp_path / "after", "--shard", "2/2")
    one_line_error(invoke("merge", out, tmp_path / "before", tmp_path / "after"), "other inputs, options or rules")
    unfinished = tmp_path / "unfinished"
    mine(reports, unfinished, "--shard", "2/3")
    summary = json.loads((unfinished / "summary.json").read_text())
    (unfinished / "summary.json").write_text(json.dumps({**summary, "complete": False}))
    one_line_error(invoke("merge", out, mined / "s1", unfinished, mined / "s3"), "did not finish")
    assert not out.exists()  # nothing written by a refused merge


def test_merge_writes_only_into_a_new_empty_or_earlier_merge_folder(mined, tmp_path):
    shards = [mined / f"s{index}" for index in (1, 2, 3)]
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    one_line_error(invoke("merge", occupied, *shards), "not empty")
    assert [p.name for p in occupied.iterdir()] == ["notes.txt"]
    one_line_error(invoke("merge", shards[0], *shards), "not empty")  # never into a shard's own folder
    before = {name: (shards[0] / name).read_bytes() for name in STREAMS}
    assert {name: (shards[0] / name).read_bytes() for name in STREAMS} == before
    out = tmp_path / "merged"
    assert invoke("merge", out, *shards).exit_code == 0
    first = (out / "labels.csv").read_bytes()
    assert invoke("merge", out, *shards).exit_code == 0  # an earlier merge's four files are replaced
    assert (out / "labels.csv").read_bytes() == first and sorted(p.name for p in out.iterdir()) == sorted(
        [*STREAMS, "summary.json"])


@pytest.mark.parametrize("value", ["0/4", "5/4", "x", "1/0", "2", "-1/4", "1/4/2"])
def test_bad_shard_values_are_one_line_errors(tmp_path, value):
    out = tmp_path / "out"
    one_line_error(invoke("mine", REAL3, "--lang", "zh", "--out", out, "--shard", value), "--shard")
    one_line_error(invoke("build", "--labels", REAL3, "--out", out, "--id-salt", "a-long-test-salt",
                          "--shard", value), "--shard")
    assert not out.exists()


def test_shard_parsing_and_keys():
    assert parse_shard("3/8") == Shard(3, 8) and parse_shard(None) is None and str(Shard(1, 2)) == "1/2"
    with pytest.raises(UserError):
        parse_shard("9/8")
    keys = [f"r{index}" for index in range(4000)]
    counts = [sum(shard_of(key, 8) == index for key in keys) for index in range(1, 9)]
    assert sum(counts) == 4000 and min(counts) > 400  # every record in one shard, the shards about even
    assert [shard_of(key, 8) for key in keys] == [shard_of(key, 8) for key in keys]
    assert patient_key("s1", "P1") == patient_key("s2", "P1") != patient_key("s1", "")  # a patient's images together


def build_args(labels: Path, images: Path, manifest: Path, out: Path, *extra: str) -> list:
    return ["build", "--labels", labels, "--images", images, "--manifest", manifest, "--out", out, "--id-salt",
            "a-long-test-salt", "--size", "32", "--split", "50/20/30", *extra]


def test_build_shards_merged_equal_the_unsharded_build(tmp_path):
    from datasets import load_from_disk

    from tests.test_build_dataset import png_studies

    images, labels = png_studies(tmp_path, 24, brightness_step=10, patients_per_study=2)  # 12 patients
    shutil.copyfile(images / "0.png", images / "lateral.png")
    with open(tmp_path / "m.csv", "a") as manifest:  # a lateral view (left out) and an image that is not there
        manifest.write("s0,lateral.png,LL,P0\ns90,gone.png,PA,P90\n")
    with open(labels, "a") as table:  # s90's labels, and a report without an image (a problem found when planning)
        table.write("s90,1\ns91,0\n")
    assert invoke(*build_args(labels, images, tmp_path / "m.csv", tmp_path / "full", "--views", "frontal")
                  ).exit_code == 0
    for index in (1, 2, 3):
        result = invoke(*build_args(labels, images, tmp_path / "m.csv", tmp_path / f"b{index}", "--views", "frontal",
                                    "--shard", f"{index}/3"))
        assert result.exit_code == 0, result.output
        assert json.loads((tmp_path / f"b{index}" / "summary.json").read_text())["shard"]["index"] == index
        assert f"shard {index} of 3" in (tmp_path / f"b{index}" / "README.md").read_text()
    result = invoke("merge", tmp_path / "merged", tmp_path / "b2", tmp_path / "b3", tmp_path / "b1")
    assert result.exit_code == 0, result.output

    def rows(folder: Path) -> list[tuple]:
        return sorted((row["report_id"], row["patient_id"], split, row["label_states"], row["image"].tobytes())
                      for split, part in load_from_disk(str(folder)).items() for row in part)

    assert rows(tmp_path / "merged") == rows(tmp_path / "full") and len(rows(tmp_path / "full")) == 24
    patients = [{row[1] for row in rows(tmp_path / f"b{index}")} for index in (1, 2, 3)]
    assert all(patients) and sum(map(len, patients)) == len(set().union(*patients)) == 12  # a patient in one shard
    assert sorted(lines(tmp_path / "merged" / "errors.csv")) == sorted(lines(tmp_path / "full" / "errors.csv"))
    assert len(lines(tmp_path / "full" / "errors.csv")) == 2
    full = json.loads((tmp_path / "full" / "summary.json").read_text())
    merged = json.loads((tmp_path / "merged" / "summary.json").read_text())
    assert merged["excluded_views"] == full["excluded_views"] == 1
    assert {k: v for k, v in merged.items() if k not in ("shards", "merged_from")} == {
        k: v for k, v in full.items() if k != "shards"}
    assert "joined by `cxrlabel merge` from the 3 shards" in (tmp_path / "merged" / "README.md").read_text()
    parquet = sorted(p.name for p in (tmp_path / "merged" / "parquet" / "train").iterdir())
    assert parquet and all(name.startswith("shard00") for name in parquet)
    one_line_error(invoke("merge", tmp_path / "again", tmp_path / "b1", tmp_path / "b2"), "shard(s) 3 of 3 missing")
    one_line_error(invoke("merge", tmp_path / "merged", tmp_path / "b1", tmp_path / "b2", tmp_path / "b3"),
                   "not empty")
    mined = tmp_path / "mined"
    mine(REAL3, mined, "--shard", "3/3")
    one_line_error(invoke("merge", tmp_path / "again", tmp_path / "b1", tmp_path / "b2", mined), "mined labels")
    # the manifest in another order: shard 1 holds the same rows
    header, *manifest_rows = (tmp_path / "m.csv").read_text().splitlines()
    (tmp_path / "r.csv").write_text("\n".join([header, *reversed(manifest_rows)]) + "\n")
    assert invoke(*build_args(labels, images, tmp_path / "r.csv", tmp_path / "r1", "--views", "frontal", "--shard",
                              "1/3")).exit_code == 0
    assert rows(tmp_path / "r1") == rows(tmp_path / "b1")


def test_english_shards_merged_equal_the_unsharded_run(tmp_path):
    from cxrlabel.merge import merge_shards
    from cxrlabel.mining import mine_reports

    with open(Path(__file__).parent / "data" / "en_challenge.csv", encoding="utf-8", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    reports = tmp_path / "en.csv"
    with open(reports, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([header, *rows[:60]])
    options = {"parser": "spacy"}
    full = mine_reports(reports, lang="en", out=tmp_path / "full", labels=None, options=options)
    for index in (1, 2):
        mine_reports(reports, lang="en", out=tmp_path / f"s{index}", labels=None, options=options,
                     shard=Shard(index, 2))
    merged = merge_shards(tmp_path / "merged", [tmp_path / "s2", tmp_path / "s1"])
    for name in STREAMS:
        assert sorted(lines(tmp_path / "merged" / name)) == sorted(lines(tmp_path / "full" / name)), name
    assert merged["counts"] == full["counts"] and merged["reports_written"] == full["reports_written"] == 60
    assert merged["parser"] == "spacy" and merged["label_set"] == "chestxray14"


def test_text_only_build_shards_merged_equal_the_unsharded_build(tmp_path, core_env):
    from datasets import load_from_disk

    from tests.test_build_dataset import DATA

    def build(out: Path, *extra: str) -> None:
        result = invoke("build", "--labels", DATA / "labels.csv", "--out", out, "--id-salt", "a-long-test-salt",
                        *extra)
        assert result.exit_code == 0, result.output

    build(tmp_path / "full")
    for index in (1, 2):
        build(tmp_path / f"t{index}", "--shard", f"{index}/2")
    core = run_core(core_env, "cxrlabel", "merge", str(tmp_path / "core"), str(tmp_path / "t1"), str(tmp_path / "t2"))
    assert core.returncode == 2 and not (tmp_path / "core").exists()
    assert core.stderr.strip() == ('error: cxrlabel merge of `cxrlabel build` shards needs the "build" extra: '
                                   'pip install "cxrlabel[build]"')
    assert invoke("merge", tmp_path / "merged", tmp_path / "t1", tmp_path / "t2").exit_code == 0

    def rows(folder: Path) -> list[tuple]:
        return sorted((row["report_id"], split, row["label_states"])
                      for split, part in load_from_disk(str(folder)).items() for row in part)

    assert rows(tmp_path / "merged") == rows(tmp_path / "full") and len(rows(tmp_path / "full")) == 30
    assert 0 < len(rows(tmp_path / "t1")) < 30
    assert json.loads((tmp_path / "merged" / "summary.json").read_text())["splits"] == json.loads(
        (tmp_path / "full" / "summary.json").read_text())["splits"]


def test_an_empty_shard_is_a_finished_run(tmp_path):
    with open(REAL3, encoding="utf-8", newline="") as handle:
        used = {shard_of(row["id"], 300) for row in csv.DictReader(handle)}
    empty = next(index for index in range(1, 301) if index not in used)  # 137 reports: most of 300 shards are empty
    summary = mine(REAL3, tmp_path / "out", "--shard", f"{empty}/300")
    assert summary["reports_read"] == 0 and summary["complete"] is True and summary["shard"]["index"] == empty
    assert lines(tmp_path / "out" / "labels.csv") == [] and lines(tmp_path / "out" / "mentions.jsonl") == []
