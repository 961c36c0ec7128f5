"""Compare a run's labels with a gold file the way `cxrlabel validate` does (same reader, mapping and scores)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cxrlabel.errors import UserError
from cxrlabel.metrics import rounded
from cxrlabel.review.collect import Run
from cxrlabel.review.model import GoldSummary, ScoreRow
from cxrlabel.validation import gold_file, predicted_value, read_gold, score_predictions


@dataclass
class GoldComparison:
    """The page's gold summary, the gold values and the FP / FN labels of each compared report."""

    summary: GoldSummary
    gold: dict[str, dict[str, int]]
    errors: dict[str, dict[str, str]]  # report id → label → "FP" | "FN" (only reports with an error)


def compare_with_gold(run: Run, gold: str, uncertain_as: str = "negative") -> GoldComparison:
    """Score the run's labels.csv against `gold` (validate's scores, rounded as it writes them)."""
    path = gold_file(gold)
    if gold == "openi" and run.lang != "en":
        raise UserError("--gold openi is the English OpenI gold; the run is not English")
    gold_rows, names = read_gold(path, run.label_set)
    names = [name for name in names if name in run.label_names]
    if not names:
        raise UserError(f"{path}: no gold column is a label of the run ({', '.join(run.label_names)})")
    ids = [report_id for report_id in gold_rows if report_id in run.labels]
    if not ids:
        raise UserError(f"no report id of {path} matches an id of {run.folder / 'labels.csv'}")
    gold_matrix = np.array([[gold_rows[i][n] for n in names] for i in ids])
    columns = [run.label_names.index(n) for n in names]
    pred_matrix = np.array([[predicted_value(run.labels[i][c], uncertain_as) for c in columns] for i in ids])
    scores = rounded(score_predictions(gold_matrix, pred_matrix, names, run.label_set))
    errors: dict[str, dict[str, str]] = {}
    for row, report_id in enumerate(ids):
        for column, name in enumerate(names):
            if gold_matrix[row, column] != pred_matrix[row, column]:
                errors.setdefault(report_id, {})[name] = "FP" if pred_matrix[row, column] else "FN"
    summary = GoldSummary(str(path), uncertain_as, len(ids), _rows(scores, names),
                          gold_not_in_run=len(gold_rows) - len(ids), run_not_in_gold=len(run.labels) - len(ids))
    return GoldComparison(summary, {i: gold_rows[i] for i in ids}, errors)


def _rows(scores: dict, names: list[str]) -> list[ScoreRow]:
    rows = [_row(name, scores["labels"][name]) for name in names]
    rows += [_row("micro", scores["micro"], False), _row("macro", scores["macro"], False)]
    if "macro_findings" in scores:
        findings = scores["macro_findings"]
        rows.append(_row(f"macro ({findings['n_labels']} findings)", findings, False))
    return rows


def _row(name: str, values: dict, is_label: bool = True) -> ScoreRow:
    return ScoreRow(name, values["precision"], values["recall"], values["f1"], values["support"], values["tp"],
                    values["fp"], values["fn"], is_label)
