"""The cxrlabel command line on English input: help, mine, validate, explain, rules lint."""

import csv
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cxrlabel.cli import app
from cxrlabel.resources import rules_dir

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_help_names_inputs_and_outputs():
    top = invoke("--help")
    assert top.exit_code == 0
    for command in ("mine", "validate", "explain", "rules"):
        assert command in top.output
    mine = invoke("mine", "--help")
    assert mine.exit_code == 0
    text = " ".join(mine.output.split())
    for phrase in ("labels.csv", "mentions.jsonl", "errors.csv", "summary.json", "--workers", "--labels",
                   "--id-column", "--text-column", "--max-chars", ".jsonl"):
        assert phrase in text


@pytest.fixture
def folder(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "1.txt").write_text(
        "FINDINGS: The cardiac silhouette and mediastinum size are within normal limits. There is no pulmonary "
        "edema. There is no focal consolidation. There are no XXXX of a pleural effusion. There is no evidence of "
        "pneumothorax.\nIMPRESSION: Normal chest x-XXXX.\n")
    (reports / "1000.txt").write_text(
        "FINDINGS: There is mild cardiomegaly. Small left pleural effusion with adjacent atelectasis.\n"
        "IMPRESSION: Cardiomegaly with small left effusion.\n")
    (reports / "notes.pdf").write_bytes(b"%PDF-1.4")
    return reports


def test_mine_folder_with_a_bad_file(folder, tmp_path):
    out = tmp_path / "out"
    result = invoke("mine", folder, "--lang", "en", "--out", out)
    assert result.exit_code == 0, result.output
    assert "2 reports labelled, 1 in errors.csv" in result.output
    with open(out / "labels.csv", newline="") as handle:
        labels = {row["id"]: row for row in csv.DictReader(handle)}
    assert labels["1"]["Effusion"] == "0" and labels["1"]["normal"] == "1" and labels["1"]["Cardiomegaly"] == ""
    assert labels["1000"]["Cardiomegaly"] == "1" and labels["1000"]["Effusion"] == "1"
    assert labels["1000"]["normal"] == "0"
    with open(out / "errors.csv", newline="") as handle:
        (error,) = list(csv.DictReader(handle))
    assert error["id"] == "notes" and "not a report file" in error["reason"]
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["reports_read"], summary["reports_written"], summary["reports_failed"]) == (3, 2, 1)
    assert (out / "mentions.jsonl").read_text().count("\n") >= 6


def test_mine_exits_non_zero_when_nothing_is_processed(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "a.txt").write_text("   ")
    (reports / "b.docx").write_bytes(b"PK")
    result = invoke("mine", reports, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "no report could be processed" in result.output
    assert len((tmp_path / "out" / "errors.csv").read_text().splitlines()) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--text-column", "report_body"], "no column 'report_body'"),
     (["--id-column", "accession"], "no id column 'accession'"),
     (["--labels", "chestxray15"], "unknown label set 'chestxray15'"),
     (["--lang", "fr"], "unknown --lang 'fr'"),
     (["--labels", "dong10"], "is for --lang zh")],
)
def test_mine_user_errors_are_one_line_without_traceback(tmp_path, args, message):
    table = tmp_path / "r.csv"
    table.write_text("uid,findings,impression\n1,No pneumothorax.,Normal.\n")
    result = invoke("mine", table, "--out", tmp_path / "out", *args)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_mine_csv_with_named_columns(tmp_path):
    table = tmp_path / "r.csv"
    table.write_text("acc,body\nA1,Small right pneumothorax.\nA2,\n")
    out = tmp_path / "out"
    result = invoke("mine", table, "--out", out, "--id-column", "acc", "--text-column", "body",
                    "--labels", "chexpert")
    assert result.exit_code == 0, result.output
    with open(out / "labels.csv", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["id"] == "A1" and row["Pneumothorax"] == "1" and row["No Finding"] == "0"
    assert "A2" in (out / "errors.csv").read_text()


def test_validate_on_a_hand_made_gold(tmp_path):
    gold = tmp_path / "gold.csv"
    gold.write_text(
        "id,findings,Effusion,Pneumothorax,Cardiomegaly,Pneumonia\n"
        "1,There is a small right pleural effusion.,1,0,0,0\n"
        "2,No pneumothorax. Mild cardiomegaly.,1,0,1,0\n"  # gold Effusion 1: a false negative
        "3,Pneumonia cannot be excluded. No pleural effusion.,0,0,0,1\n"
        "4,Small left apical pneumothorax.,0,1,0,0\n")
    scores_path, errors_path = tmp_path / "scores.json", tmp_path / "errors.csv"
    result = invoke("validate", "--gold", gold, "--json", scores_path, "--errors", errors_path)
    assert result.exit_code == 0, result.output
    scores = json.loads(scores_path.read_text())
    assert scores["n_reports"] == 4
    effusion = scores["labels"]["Effusion"]
    assert (effusion["tp"], effusion["fp"], effusion["fn"]) == (1, 0, 1)
    assert scores["labels"]["Pneumonia"]["fn"] == 1  # uncertain scored as negative
    assert (scores["micro"]["tp"], scores["micro"]["fp"], scores["micro"]["fn"]) == (3, 0, 2)
    with open(errors_path, newline="") as handle:
        errors = {(row["report_id"], row["label"], row["error"]) for row in csv.DictReader(handle)}
    assert errors == {("2", "Effusion", "FN"), ("3", "Pneumonia", "FN")}
    as_positive = invoke("validate", "--gold", gold, "--json", scores_path, "--uncertain-as", "positive")
    assert as_positive.exit_code == 0
    assert json.loads(scores_path.read_text())["labels"]["Pneumonia"]["tp"] == 1


def test_explain_prints_graph_mentions_and_rules():
    result = invoke("explain", "No evidence of pneumothorax or effusion.")
    assert result.exit_code == 0, result.output
    assert "evidence-1 -prep_of-> pneumothorax-3" in result.output
    assert "evidence-1 -prep_of-> effusion-5" in result.output
    assert "evidence-1 -neg-> No-0" in result.output
    assert "Effusion=negative" in result.output and "Pneumothorax=negative" in result.output


def test_rules_lint(tmp_path):
    ok = invoke("rules", "lint")
    assert ok.exit_code == 0 and "rules: OK" in ok.output
    copy = tmp_path / "rules"
    shutil.copytree(rules_dir(), copy)
    path = copy / "en" / "rules" / "2_negation.yml"
    text = path.read_text()
    path.write_text(text.replace("- id: neg.without\n", "- id: neg.modifier\n"))
    lines = [n for n, row in enumerate(path.read_text().splitlines(), start=1) if row == "  - id: neg.modifier"]
    assert len(lines) == 2
    line = lines[1]
    bad = invoke("rules", "lint", "--rules-dir", copy)
    assert bad.exit_code == 1
    assert f"{path}:{line}: duplicate rule id 'neg.modifier'" in " ".join(bad.output.split())


def test_rules_lint_checks_the_chinese_rules(tmp_path):
    copy = tmp_path / "rules"
    shutil.copytree(rules_dir(), copy)
    negation = copy / "zh" / "negation.yml"
    negation.write_text(negation.read_text().replace("uncertainty:\n", "uncertainty:\n  - 未见\n", 1))
    bad = invoke("rules", "lint", "--rules-dir", copy)
    assert bad.exit_code == 1
    assert "'未见' is both a negation and an uncertainty cue" in " ".join(bad.output.split())


def test_rules_lint_reports_broken_yaml_as_problems(tmp_path):
    """A YAML syntax error in a rule, label-set or Chinese file is a file:line problem, not a traceback."""
    copy = tmp_path / "rules"
    shutil.copytree(rules_dir(), copy)
    broken = [copy / "en" / "rules" / "2_negation.yml", copy / "labelsets" / "chestxray14.yml",
              copy / "zh" / "regions.yml"]
    for path in broken:
        path.write_text(path.read_text() + "oops: [\n")
    bad = invoke("rules", "lint", "--rules-dir", copy)
    assert bad.exit_code == 1, bad.output
    output = " ".join(bad.output.split())
    for path in broken:
        assert f"{path}:" in output and "YAML error" in output


def test_mine_the_shipped_examples(tmp_path):
    """The README run command on examples/reports/en (12 OpenI reports and their README)."""
    examples = Path(__file__).parents[1] / "examples" / "reports" / "en"
    out = tmp_path / "out"
    result = invoke("mine", examples, "--lang", "en", "--out", out)
    assert result.exit_code == 0, result.output
    with open(out / "labels.csv", newline="") as handle:
        labels = {row["id"]: row for row in csv.DictReader(handle)}
    assert set(labels) == {p.stem for p in examples.glob("*.txt")} and len(labels) == 12
    assert "README.md" in (out / "errors.csv").read_text()
    # clear-cut statements of the reports
    assert labels["1"]["normal"] == "1"  # "Normal chest x-XXXX."
    assert labels["1021"]["Pneumothorax"] == "1"  # "Recurrent right pneumothorax"
    assert labels["1100"]["Cardiomegaly"] == "1"  # "Heart is large."
    assert labels["1226"]["Pneumonia"] == "1" and labels["1226"]["Pneumothorax"] == "0"
    assert labels["1303"]["Mass"] == "1" and labels["1303"]["Hernia"] == "1"
