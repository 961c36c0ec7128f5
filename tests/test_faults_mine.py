"""Fault injection for `cxrlabel mine` through the real CLI: failing runs, signals, bad records, read-only output.

Each scenario runs `cxrlabel mine` in a subprocess and checks what a user would: the previous results in
--out kept byte for byte, outputs that agree with each other, exit codes, no traceback, and a resumed run
equal to an uninterrupted one.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import cxrlabel
from cxrlabel.labelsets import load_label_set
from cxrlabel.registry import create_labeler
from cxrlabel.resources import rules_dir
from cxrlabel.runner import label_mixed_batch
from cxrlabel.types import LabelError, ReadError, Report, ReportResult

ROOT = Path(__file__).resolve().parents[1]
OPENI = Path(cxrlabel.__file__).parent / "data" / "openi" / "reports_dev.csv"
ZH_REPORTS = ROOT / "tests" / "data" / "zh_challenge.csv"
CLI = [sys.executable, "-c", "from cxrlabel.cli import app; app(prog_name='cxrlabel')", "mine"]
OUTPUTS = ("labels.csv", "mentions.jsonl", "errors.csv", "summary.json")
PARTIAL = ".mine-partial"


def mine(*args, env: dict | None = None, **popen) -> subprocess.Popen:
    return subprocess.Popen([*CLI, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, **popen)


def run_mine(*args, env: dict | None = None, prefix: tuple = ()) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, *CLI, *map(str, args)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under a folder, by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def read_rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))[1:]


def assert_consistent(folder: Path) -> dict:
    """labels.csv + errors.csv rows = reports read; mentions only of labelled reports; returns the summary."""
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    labels, errors = read_rows(folder / "labels.csv"), read_rows(folder / "errors.csv")
    assert len(labels) == summary["reports_written"]
    assert len(errors) == summary["reports_failed"]
    assert len(labels) + len(errors) == summary["reports_read"]
    mentions = (folder / "mentions.jsonl").read_text(encoding="utf-8").splitlines()
    mention_ids = {json.loads(line)["report_id"] for line in mentions}
    assert mention_ids <= {row[0] for row in labels}
    return summary


def wait_for_checkpoint(process: subprocess.Popen, out: Path, timeout: float = 120) -> dict:
    """Wait until the running mine has finished at least one batch in OUT/.mine-partial."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "mine ended before it could be interrupted"
        try:
            summary = json.loads((out / PARTIAL / "summary.json").read_text(encoding="utf-8"))
            if summary["reports_read"] > 0:
                return summary
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    raise AssertionError("no checkpoint appeared")


@pytest.fixture(scope="module")
def zh_corpus(tmp_path_factory) -> Path:
    """The 150 Chinese challenge reports, 200 times over under distinct ids (30,000 reports)."""
    with open(ZH_REPORTS, newline="", encoding="utf-8") as handle:
        rows = [(row["id"], row["findings"], row["diagnosis"]) for row in csv.DictReader(handle)]
    path = tmp_path_factory.mktemp("zh") / "reports.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "findings", "diagnosis"])
        writer.writerows((f"{copy}-{rid}", findings, diagnosis) for copy in range(200) for rid, findings, diagnosis
                         in rows)
    return path


@pytest.fixture(scope="module")
def zh_reference(zh_corpus, tmp_path_factory) -> Path:
    """An uninterrupted run over the Chinese corpus."""
    out = tmp_path_factory.mktemp("zh_reference")
    result = run_mine(zh_corpus, "--lang", "zh", "--out", out)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture
def previous_run(tmp_path) -> tuple[Path, dict[str, bytes]]:
    """An OUT folder holding a finished run plus a file of the user's."""
    out = tmp_path / "out"
    result = run_mine(ZH_REPORTS, "--lang", "zh", "--out", out)
    assert result.returncode == 0, result.stderr
    (out / "notes.txt").write_text("the user's own notes")
    return out, snapshot(out)


def broken_rules(tmp_path: Path) -> dict:
    rules = tmp_path / "rules"
    shutil.copytree(rules_dir(), rules)
    (rules / "zh" / "negation.yml").write_text("negation: [未见, 无\n  bad: : :\n", encoding="utf-8")
    return {"CXRLABEL_RULES": str(rules)}


@pytest.mark.parametrize("fault", ["wrong id column", "empty csv", "broken label set", "broken rules file"])
def test_failing_run_keeps_previous_results(fault, previous_run, tmp_path):
    out, before = previous_run
    args, env = [ZH_REPORTS, "--lang", "zh"], None
    if fault == "wrong id column":
        args += ["--id-column", "no_such_column"]
    elif fault == "empty csv":
        (tmp_path / "empty.csv").write_bytes(b"")
        args[0] = tmp_path / "empty.csv"
    elif fault == "broken label set":
        (tmp_path / "labels.yml").write_text("name: mine\nlang: zh\nlabels: [\n", encoding="utf-8")
        args += ["--labels", tmp_path / "labels.yml"]
    else:  # the rules are read while labelling, after the run has started
        env = broken_rules(tmp_path)
    result = run_mine(*args, "--out", out, env=env)
    assert result.returncode != 0
    assert snapshot(out) == before  # byte for byte, the user's notes included, no partial folder left
    if fault in ("wrong id column", "empty csv"):
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_sigkill_then_resume_equals_uninterrupted_run(zh_corpus, zh_reference, previous_run):
    out, before = previous_run
    process = mine(zh_corpus, "--lang", "zh", "--batch-size", "32", "--out", out)
    wait_for_checkpoint(process, out)
    process.kill()
    process.wait(timeout=30)
    assert {k: v for k, v in snapshot(out).items() if not k.startswith(PARTIAL)} == before
    partial = json.loads((out / PARTIAL / "summary.json").read_text(encoding="utf-8"))
    assert partial["complete"] is False and 0 < partial["reports_read"] < 30_000

    # another label set: refused, the interrupted run kept for a proper --resume
    kept = snapshot(out)
    refused = run_mine(zh_corpus, "--lang", "zh", "--labels", "regions5", "--resume", "--out", out)
    assert refused.returncode == 2 and "without --resume" in refused.stderr and "Traceback" not in refused.stderr
    assert snapshot(out) == kept

    resumed = run_mine(zh_corpus, "--lang", "zh", "--workers", "2", "--resume", "--out", out)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming after {partial['reports_read']} reports" in resumed.stderr
    assert not (out / PARTIAL).exists() and (out / "notes.txt").read_bytes() == before["notes.txt"]
    for name in ("labels.csv", "mentions.jsonl", "errors.csv"):
        assert (out / name).read_bytes() == (zh_reference / name).read_bytes(), name
    summary, reference = assert_consistent(out), json.loads((zh_reference / "summary.json").read_text("utf-8"))
    assert summary["complete"] is True and summary["counts"] == reference["counts"]
    assert summary["reports_read"] == reference["reports_read"] == 30_000


def test_sigint_with_workers_stops_cleanly(previous_run):
    out, before = previous_run
    process = mine(OPENI, "--lang", "en", "--workers", "2", "--batch-size", "16", "--out", out,
                   start_new_session=True)
    wait_for_checkpoint(process, out, timeout=240)
    os.killpg(process.pid, signal.SIGINT)  # as Ctrl-C in a terminal: the parent and both workers
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert "interrupted:" in stderr and "--resume" in stderr
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):  # no worker left behind
        os.killpg(process.pid, 0)
    assert {k: v for k, v in snapshot(out).items() if not k.startswith(PARTIAL)} == before
    partial = assert_consistent(out / PARTIAL)
    assert partial["complete"] is False and 0 < partial["reports_read"] < 2851


def test_one_bad_record_does_not_stop_the_run(tmp_path):
    """A report over spaCy's default 1,000,000 characters with --max-chars 2000000 (spaCy's E088 before)."""
    reports = tmp_path / "reports.csv"
    with open(OPENI, newline="", encoding="utf-8") as source, open(reports, "w", newline="", encoding="utf-8") as f:
        rows = [(row["uid"], row["findings"], row["impression"]) for row in csv.DictReader(source)][:20]
        writer = csv.writer(f)
        writer.writerow(["uid", "findings", "impression"])
        writer.writerows(rows[:10])
        writer.writerow(["long", "There is a small pleural effusion " + "x" * 1_100_000 + ".", "No pneumothorax."])
        writer.writerows(rows[10:])
    out = tmp_path / "out"
    result = run_mine(reports, "--lang", "en", "--max-chars", "2000000", "--out", out)
    assert result.returncode == 0, result.stderr
    summary = assert_consistent(out)
    assert summary["reports_read"] == 21
    labels = {row[0]: row for row in read_rows(out / "labels.csv")}
    names = load_label_set("chestxray14").names
    assert labels["long"][1 + names.index("Effusion")] == "1"
    assert labels["long"][1 + names.index("Pneumothorax")] == "0"


class FailsOn:
    """The real Chinese labeler, made to raise on one report id (fault injection)."""

    def __init__(self, report_id: str):
        self.inner = create_labeler("zh", load_label_set("dong10"))
        self.label_set = self.inner.label_set
        self.report_id = report_id

    def label_batch(self, reports: list[Report]) -> list[ReportResult | LabelError]:
        if any(report.id == self.report_id for report in reports):
            raise ValueError("injected fault")
        return self.inner.label_batch(reports)


def test_failing_record_is_isolated_within_its_batch():
    with open(ZH_REPORTS, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[:20]
    reports = [Report(row["id"], row["diagnosis"], {"findings": row["findings"], "diagnosis": row["diagnosis"]},
                      f"zh_challenge.csv:{n}") for n, row in enumerate(rows, start=2)]
    batch = [*reports[:5], ReadError("unreadable", "empty report", "x"), *reports[5:]]
    clean = label_mixed_batch(FailsOn("none"), batch)
    faulty = label_mixed_batch(FailsOn(reports[7].id), batch)
    assert len(faulty) == len(batch)
    assert isinstance(faulty[8], LabelError) and faulty[8].id == reports[7].id
    assert faulty[8].reason == "labelling failed: ValueError: injected fault" and faulty[8].source == reports[7].source
    assert [r for n, r in enumerate(faulty) if n != 8] == [r for n, r in enumerate(clean) if n != 8]


def test_read_only_output_folder(previous_run):
    out, before = previous_run
    prefix: tuple = ()
    if os.geteuid() == 0:  # root writes anywhere: drop that power for the command
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv")
        prefix = ("setpriv", "--inh-caps=-dac_override", "--bounding-set=-dac_override")
    out.chmod(0o555)
    try:
        result = run_mine(ZH_REPORTS, "--lang", "zh", "--out", out, prefix=prefix)
    finally:
        out.chmod(0o755)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "not writable" in line and str(out) in line
    assert snapshot(out) == before
