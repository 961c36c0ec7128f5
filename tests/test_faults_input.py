"""Dirty inputs through the real `cxrlabel` command (subprocesses): control characters, Big5 and other CJK
encodings, a stray quote in a CSV, duplicate ids, and broken YAML in label sets or CXRLABEL_RULES. Each ends in
right labels, a row of errors.csv with the reason, or a one-line error with exit code 2: never a traceback,
never a label read from mojibake or from merged records."""

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cxrlabel.resources import rules_dir

CXRLABEL = [str(Path(sys.executable).with_name("cxrlabel"))]  # the installed console script
ROOT = Path(__file__).parents[1]
OPENI = ROOT / "cxrlabel" / "data" / "openi" / "reports_dev.csv"
ZH_CHALLENGE = ROOT / "tests" / "data" / "zh_challenge.csv"
# A traditional-script report written for this test (Big5 cannot encode simplified-only characters).
TRADITIONAL = {"findings": "胸廓對稱，骨質未見異常。兩肺紋理增多、增粗，未見實變影。心影增大。"
                           "兩側膈面光整，右側肋膈角變鈍。",
               "diagnosis": "兩肺紋理增多，心影增大，右側胸腔積液。"}


def cli(*args, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CXRLABEL, *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


def read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def labels(out: Path) -> dict[str, dict]:
    return {row.pop("id"): row for row in read_csv(out / "labels.csv")}


def errors(out: Path) -> dict[str, str]:
    return {row["id"]: row["reason"] for row in read_csv(out / "errors.csv")}


def assert_one_line_error(result: subprocess.CompletedProcess, *expected: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    message = " ".join(result.stderr.split())
    for part in expected:
        assert part in message, message


def to_traditional(text: str) -> str:
    """Simplified → traditional with the project's own character table (rules/zh/normalize.yml, inverted)."""
    pairs = yaml.safe_load((ROOT / "rules" / "zh" / "normalize.yml").read_text(encoding="utf-8"))["traditional"]
    table = {pair[1]: pair[0] for pair in pairs.split()}
    return "".join(table.get(char, char) for char in text)


# --- control characters -------------------------------------------------------------------------------------

def test_control_and_format_characters_do_not_flip_labels(tmp_path):
    examples = {"nul": "No\x00 pleural effusion.", "zwsp": "No\u200b pleural effusion.",
                "bel": "No\x07 pleural effusion.", "ansi": "\x1b[31mNo pleural effusion.\x1b[0m",
                "fullwidth": "\uff2e\uff4f pleural effusion.", "shy": "Small left pleural effu\u00adsion."}
    source = tmp_path / "r.jsonl"
    source.write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in examples.items()))
    result = cli("mine", source, "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    got = labels(tmp_path / "out")
    assert {k: row["Effusion"] for k, row in got.items()} == {
        "nul": "0", "zwsp": "0", "bel": "0", "ansi": "0", "fullwidth": "0", "shy": "1"}
    mentions = [json.loads(line) for line in (tmp_path / "out" / "mentions.jsonl").read_text().splitlines()]
    assert mentions and all(m["sentence"][m["start"]:m["end"]] == m["text"] for m in mentions)
    assert all("\x00" not in m["sentence"] and "\x1b" not in m["sentence"] for m in mentions)


# --- encodings ----------------------------------------------------------------------------------------------

def traditional_reports() -> list[dict]:
    """Real challenge-set reports turned traditional where Big5 can encode them, plus the hand-written one."""
    rows = [{"id": "t0", **TRADITIONAL}]
    for row in read_csv(ZH_CHALLENGE)[:40]:
        converted = {"id": row["id"], "findings": to_traditional(row["findings"]),
                     "diagnosis": to_traditional(row["diagnosis"])}
        try:
            (converted["findings"] + converted["diagnosis"]).encode("big5")
        except UnicodeEncodeError:
            continue
        rows.append(converted)
    return rows


def write_reports(path: Path, rows: list[dict], encoding: str) -> None:
    lines = ["id,findings,diagnosis"] + [f'{r["id"]},"{r["findings"]}","{r["diagnosis"]}"' for r in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))


def test_big5_reports_are_labelled_as_their_utf8_text_or_refused(tmp_path):
    rows = traditional_reports()
    assert len(rows) >= 20
    write_reports(tmp_path / "utf8.csv", rows, "utf-8")
    write_reports(tmp_path / "big5.csv", rows, "big5")
    folder = tmp_path / "big5_txt"
    folder.mkdir()
    for row in rows:
        report = f"影像所見：{row['findings']}\n診斷：{row['diagnosis']}\n"
        (folder / f"{row['id']}.txt").write_bytes(report.encode("big5"))
    for source in ("utf8.csv", "big5.csv", "big5_txt"):
        result = cli("mine", tmp_path / source, "--lang", "zh", "--out", tmp_path / f"out_{source}")
        assert result.returncode == 0, result.stderr
    reference = labels(tmp_path / "out_utf8.csv")
    assert reference["t0"]["pleural_effusion"] == "1" and reference["t0"]["increased_heart_shadow"] == "1"
    for source in ("big5.csv", "big5_txt"):
        got, refused = labels(tmp_path / f"out_{source}"), errors(tmp_path / f"out_{source}")
        assert set(got) | set(refused) == {row["id"] for row in rows}
        assert got == {report_id: reference[report_id] for report_id in got}
        assert len(got) == len(rows), refused  # Big5 is detected, not only refused


@pytest.mark.parametrize(("encoding", "text", "language"), [
    ("shift_jis", "両肺の透過性は正常。心拡大あり。右胸水を認める。", "Japanese"),
    ("euc_kr", "양측 폐야는 깨끗하다. 심비대 소견. 우측 흉수가 있다.", "Korean"),
])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_japanese_and_korean_code_pages_go_to_errors(tmp_path, encoding, text, language, lang):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "r1.txt").write_bytes(text.encode(encoding))
    (folder / "r2.txt").write_text("No pleural effusion." if lang == "en" else "两肺纹理增多。", encoding="utf-8")
    result = cli("mine", folder, "--lang", lang, "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert set(labels(tmp_path / "out")) == {"r2"}
    assert language in errors(tmp_path / "out")["r1"]


def test_mojibake_that_no_cjk_encoding_explains_is_refused(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    # Big5 text cut at odd offsets and shuffled: no code page reads it as text
    raw = f"{TRADITIONAL['findings']}{TRADITIONAL['diagnosis']}".encode("big5")
    (folder / "r1.txt").write_bytes(raw[1::2] + raw[::2])
    (folder / "r2.txt").write_bytes(TRADITIONAL["diagnosis"].encode("big5"))
    result = cli("mine", folder, "--lang", "zh", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert set(labels(tmp_path / "out")) == {"r2"}
    assert "undecodable" in errors(tmp_path / "out")["r1"]


# --- CSV integrity ------------------------------------------------------------------------------------------

def openi_rows(count: int) -> list[dict]:
    rows = [row for row in read_csv(OPENI) if row["findings"] and row["impression"]]
    return rows[:count]


def test_a_stray_quote_is_reported_with_its_lines_and_nothing_is_labelled_from_merged_text(tmp_path):
    rows = openi_rows(60)
    clean = tmp_path / "clean.csv"
    with open(clean, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["uid", "findings", "impression"])
        writer.writerows([row["uid"], row["findings"], row["impression"]] for row in rows)
    lines = clean.read_text(encoding="utf-8").splitlines(keepends=True)
    head, _, impression = lines[20].rpartition(",")
    assert not impression.startswith('"')
    lines[20] = f'{head},"{impression}'  # line 21 (uid rows[19]): a stray opening quote before the impression
    broken = tmp_path / "broken.csv"
    broken.write_text("".join(lines), encoding="utf-8")
    for name in ("clean", "broken"):
        result = cli("mine", tmp_path / f"{name}.csv", "--out", tmp_path / f"out_{name}")
        assert result.returncode == 0, result.stderr
    reference, got, refused = labels(tmp_path / "out_clean"), labels(tmp_path / "out_broken"), errors(
        tmp_path / "out_broken")
    assert len(refused) == 1
    (reason,) = refused.values()
    merged = re.match(r"lines 21-(\d+): ", reason)
    assert merged and "stray quote" in reason
    affected = {row["uid"] for row in rows[19:int(merged.group(1)) - 1]}  # line n holds rows[n - 2]
    assert len(affected) >= 2
    assert set(got) == {row["uid"] for row in rows} - affected
    assert all(got[uid] == reference[uid] for uid in got)


def test_an_id_that_looks_like_text_is_reported(tmp_path):
    source = tmp_path / "r.csv"
    source.write_text('uid,findings\n"1,No effusion.\n2,Mild cardiomegaly.\n3,Lungs clear.\n')
    result = cli("mine", source, "--out", tmp_path / "out")
    assert result.returncode == 1  # nothing could be labelled
    (reason,) = errors(tmp_path / "out").values()
    assert "lines 2-4" in reason


def test_duplicate_ids_are_flagged_not_written_twice(tmp_path):
    table = tmp_path / "dup.csv"
    table.write_text("id,text\n7,No effusion.\n8,Mild cardiomegaly.\n7,Large left effusion.\n")
    jsonl = tmp_path / "dup.jsonl"
    jsonl.write_text('{"id": "7", "text": "No effusion."}\n{"id": "7", "text": "Large left effusion."}\n')
    folder = tmp_path / "dup"
    (folder / "a").mkdir(parents=True)
    (folder / "b").mkdir()
    (folder / "a" / "7.txt").write_text("No effusion.")
    (folder / "b" / "7.txt").write_text("Large left effusion.")
    expected_first = {"dup.csv": "dup.csv:2", "dup.jsonl": "dup.jsonl:1", "dup": "a/7.txt"}
    for source, first in expected_first.items():
        out = tmp_path / f"out_{source}"
        result = cli("mine", tmp_path / source, "--out", out)
        assert result.returncode == 0, result.stderr
        written = [row["id"] for row in read_csv(out / "labels.csv")]
        assert written.count("7") == 1 and labels(out)["7"]["Effusion"] == "0"  # the first one
        assert errors(out)["7"] == f"duplicate id, first seen at {first}"


# --- YAML and label sets ------------------------------------------------------------------------------------

BAD_LABEL_SETS = {
    "syntax.yml": ("name: mine\nlang: en\nlabels:\n  - {name: Effusion, findings: [pleural_effusion]\n"
                   "  - {name: Edema, findings: [edema]}\n", ":5: YAML error"),
    "pytag.yml": ("name: mine\nlang: en\nlabels: !!python/object/apply:os.system ['echo PWNED']\n",
                  ":3: YAML error: unsafe or unknown YAML tag"),
    "unknown.yml": ("name: mine\nlang: en\nlabels:\n  - {name: Effusion, findings: [pleural_efusion]}\n",
                    ":4: label 'Effusion' names unknown finding 'pleural_efusion'"),
}


@pytest.mark.parametrize("name", sorted(BAD_LABEL_SETS))
def test_a_bad_user_label_set_is_one_line_with_file_and_line(tmp_path, name):
    text, expected = BAD_LABEL_SETS[name]
    path = tmp_path / name
    path.write_text(text)
    reports = tmp_path / "r.csv"
    reports.write_text("id,text\n1,No effusion.\n")
    for args in (["mine", reports, "--out", tmp_path / "out"], ["validate"], ["explain", "No effusion."]):
        result = cli(*args, "--labels", path)
        assert_one_line_error(result, f"{path}{expected}")
        assert "PWNED" not in result.stdout


def test_a_chinese_label_set_naming_no_region_is_refused(tmp_path):
    path = tmp_path / "regions.yml"
    path.write_text("name: mine\nlang: zh\nmethod: regions\nlabels:\n  - {name: lungs}\n  - {name: lung}\n")
    reports = tmp_path / "r.csv"
    reports.write_text("id,findings\n1,两肺纹理增多。\n")
    assert_one_line_error(cli("mine", reports, "--lang", "zh", "--labels", path, "--out", tmp_path / "out"),
                          f"{path}:6: label 'lung' names unknown region 'lung'")


@pytest.mark.parametrize(("fault", "expected"), [
    ("syntax", "edema.yml:3: YAML error"),
    ("pytag", "edema.yml:3: YAML error: unsafe or unknown YAML tag"),
])
def test_a_broken_file_in_cxrlabel_rules_is_one_line(tmp_path, fault, expected):
    rules = tmp_path / "rules"
    shutil.copytree(rules_dir(), rules)
    finding = rules / "en" / "findings" / "edema.yml"
    text = finding.read_text()
    finding.write_text(text.replace("name:", "name: [", 1) if fault == "syntax"
                       else text.replace("cuis: [C0034063]", "cuis: !!python/object/apply:os.system ['echo PWNED']"))
    reports = tmp_path / "r.csv"
    reports.write_text("id,text\n1,No effusion.\n")
    env = {"CXRLABEL_RULES": str(rules)}
    for args in (["mine", reports, "--out", tmp_path / "out"],
                 ["mine", reports, "--out", tmp_path / "out2", "--workers", "2"],
                 ["validate"], ["explain", "No effusion."]):
        result = cli(*args, env=env)
        assert_one_line_error(result, expected)
        assert "PWNED" not in result.stdout
