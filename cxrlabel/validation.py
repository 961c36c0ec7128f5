"""`cxrlabel validate`: run the labeler over gold-labelled reports and score it (scikit-learn metrics)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from cxrlabel.errors import UserError
from cxrlabel.labelsets import LabelSet
from cxrlabel.metrics import macro_average, micro_average, rounded, score_labels
from cxrlabel.readers import REPORT_ID_COLUMNS, find_column, iter_reports
from cxrlabel.registry import label_set_for
from cxrlabel.runner import run_labeler
from cxrlabel.types import RecordError, ReportResult, State

OPENI_DIR = Path(__file__).parent / "data" / "openi"
# ChestX-ray8 (Wang et al., CVPR 2017) Table 2 comparison: 8 findings + normal.
CHESTXRAY8_LABELS = ["Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
                     "Pneumothorax", "normal"]
# Published F1 per class for NegBio (the ChestX-ray8 labeler), and the published totals (P, R, F1)
# for NegBio and for MetaMap with NegEx, as quoted in the project's issue tracker.
NEGBIO_F1 = {"Atelectasis": 0.91, "Cardiomegaly": 0.88, "Effusion": 0.87, "Infiltration": 0.80, "Mass": 0.52,
             "Nodule": 0.75, "normal": 0.93, "Pneumonia": 0.77, "Pneumothorax": 0.86}
NEGBIO_TOTAL = (0.90, 0.91, 0.90)
METAMAP_TOTAL = (0.84, 0.88, 0.86)


def gold_file(gold: str) -> Path:
    """The gold CSV named by --gold: 'openi' is the shipped OpenI development gold."""
    return OPENI_DIR / "gold_dev.csv" if gold == "openi" else Path(gold)


def _gold_id(row: dict, column: str) -> str:
    value = str(row[column]).strip()
    return value[3:] if column.strip().lower() == "filename" and value.upper().startswith("CXR") else value


def read_gold(path: Path, label_set: LabelSet) -> tuple[dict[str, dict[str, int]], list[str]]:
    """Gold rows keyed by report id, and the label names scored (gold columns in the label set)."""
    if not path.is_file():
        raise UserError(f"{path}: gold file not found")
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        id_column = find_column(columns, REPORT_ID_COLUMNS)
        if id_column is None:
            raise UserError(f"{path}:1: gold needs an id column ({' or '.join(REPORT_ID_COLUMNS)})")
        names = [n for n in label_set.names if n in columns]
        if not names:
            raise UserError(
                f"{path}: no gold column matches the label set {label_set.name!r} ({', '.join(label_set.names)})"
            )
        gold = {}
        for line, row in enumerate(reader, start=2):
            try:
                gold[_gold_id(row, id_column)] = {n: int(float(row[n] or 0) > 0) for n in names}
            except ValueError as exc:
                raise UserError(f"{path}:{line}: gold values must be 0 or 1 ({exc})") from exc
    return gold, names


def predicted_value(state: State | None, uncertain_as: str) -> int:
    if state == State.POSITIVE:
        return 1
    return int(state == State.UNCERTAIN and uncertain_as == "positive")


def run_validation(
    gold: str,
    reports: Path | None,
    lang: str,
    labels: str | None,
    options: dict,
    uncertain_as: str = "negative",
    json_path: Path | None = None,
    errors_path: Path | None = None,
    workers: int = 1,
    console: Console | None = None,
) -> dict:
    """Score the labeler against gold; print the tables; return the JSON-shaped scores."""
    console = console or Console()
    label_set = label_set_for(lang, labels)
    if gold == "openi" and lang != "en":
        raise UserError("--gold openi is the English OpenI gold; use --lang en")
    gold_path = gold_file(gold)
    reports = reports or (OPENI_DIR / "reports_dev.csv" if gold == "openi" else gold_path)
    gold_rows, names = read_gold(gold_path, label_set)
    results: dict[str, ReportResult] = {}
    failures: list[RecordError] = []
    wanted = (item for item in iter_reports(reports) if item.id in gold_rows)
    for item in run_labeler(wanted, lang, label_set, options, workers=workers):
        if isinstance(item, RecordError):
            failures.append(item)
        else:
            results[item.report_id] = item
    ids = [i for i in gold_rows if i in results]
    if not ids:
        raise UserError(f"no report of {reports} matches a gold id of {gold_path}")
    gold_matrix = np.array([[gold_rows[i][n] for n in names] for i in ids])
    pred_matrix = np.array([[predicted_value(results[i].labels.get(n), uncertain_as) for n in names] for i in ids])
    scores = rounded({"n_reports": len(ids), **score_predictions(gold_matrix, pred_matrix, names, label_set),
                      "missing_reports": len(gold_rows) - len(ids), "failed_reports": len(failures)})
    print_scores(scores, names, console)
    if json_path:
        Path(json_path).write_text(json.dumps(scores, indent=2))
    if errors_path:
        write_error_analysis(Path(errors_path), ids, names, gold_matrix, pred_matrix, results, label_set)
    return scores


def score_predictions(gold: np.ndarray, pred: np.ndarray, names: list[str], label_set: LabelSet) -> dict:
    """`score_labels` plus the macro row over the findings (the label set's derived labels and labels without a
    gold positive left out) and, when the label set has its labels, the ChestX-ray8 micro row; unrounded."""
    scores = score_labels(gold, pred, names)
    derived = {spec.name for spec in label_set.labels if spec.derived}
    findings = [k for k, n in enumerate(names) if n not in derived and scores["labels"][n]["support"] > 0]
    scores["macro_findings"] = macro_average(gold, pred, findings)
    cx8 = [names.index(n) for n in CHESTXRAY8_LABELS if n in names]
    if len(cx8) == len(CHESTXRAY8_LABELS):
        scores["chestxray8_micro"] = micro_average(gold[:, cx8], pred[:, cx8])
    return scores


def _fmt(value: float) -> str:
    return f"{value:.3f}"


def print_scores(scores: dict, names: list[str], console: Console) -> None:
    table = Table(title=f"Labels vs gold ({scores['n_reports']} reports)")
    for column in ("label", "precision", "recall", "F1", "support"):
        table.add_column(column, justify="left" if column == "label" else "right")
    rows = [(n, scores["labels"][n]) for n in names] + [("micro", scores["micro"]), ("macro", scores["macro"])]
    if "macro_findings" in scores:
        rows.append((f"macro ({scores['macro_findings']['n_labels']} findings)", scores["macro_findings"]))
    for name, row in rows:
        table.add_row(name, _fmt(row["precision"]), _fmt(row["recall"]), _fmt(row["f1"]), str(row["support"]))
    console.print(table)
    if "chestxray8_micro" not in scores:
        return
    cx8 = Table(title="ChestX-ray8 Table 2 layout, beside the published figures (ChestX-ray8, CVPR 2017)")
    for column in ("label", "P", "R", "F1", "NegBio F1 (published)"):
        cx8.add_column(column, justify="left" if column == "label" else "right")
    for name in CHESTXRAY8_LABELS:
        row = scores["labels"][name]
        cx8.add_row(name, _fmt(row["precision"]), _fmt(row["recall"]), _fmt(row["f1"]), _fmt(NEGBIO_F1[name]))
    total = scores["chestxray8_micro"]
    cx8.add_row("Total, this labeler (micro)", _fmt(total["precision"]), _fmt(total["recall"]), _fmt(total["f1"]), "")
    cx8.add_row("Total, NegBio (published)", *map(_fmt, NEGBIO_TOTAL), "")
    cx8.add_row("Total, MetaMap + NegEx (published)", *map(_fmt, METAMAP_TOTAL), "")
    console.print(cx8)


def write_error_analysis(path: Path, ids: list[str], names: list[str], gold: np.ndarray, pred: np.ndarray,
                         results: dict[str, ReportResult], label_set: LabelSet) -> None:
    """One row per false positive / false negative with the sentences and rules behind it."""
    findings = {spec.name: set(spec.findings) | {spec.name} for spec in label_set.labels}
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["report_id", "label", "gold", "predicted", "error", "evidence"])
        for row, report_id in enumerate(ids):
            for column, name in enumerate(names):
                if gold[row, column] == pred[row, column]:
                    continue
                mentions = [m for m in results[report_id].mentions if m.finding in findings[name]]
                if not findings[name] - {name}:  # derived label (normal): show every non-negated mention
                    mentions = [m for m in results[report_id].mentions if m.state != State.NEGATIVE]
                evidence = " | ".join(f"[{m.state.value}:{m.rule_id}] {m.finding}: {m.sentence}" for m in mentions)
                writer.writerow([report_id, name, int(gold[row, column]), int(pred[row, column]),
                                 "FP" if pred[row, column] else "FN", evidence or "(no mention)"])
