"""A NegEx peer beside cxrlabel on the OpenI development gold, same vocabulary, same sentences.

The peer is negspacy's NegEx component (installed for this benchmark only: `pip install negspacy`)
in a spaCy pipeline of tokenizer → vocabulary mentions → negex. Both systems see identical input:
the same sections and sentences (cxrlabel's splitters) and the same mentions (cxrlabel's finding
vocabularies, rules/en/findings/*.yml, via find_mentions; each mention becomes a span that NegEx
marks negated or not). Only the way a mention is judged differs: cxrlabel's dependency-graph rules
versus NegEx trigger phrases and scope. The peer has no uncertainty state, so for a like-for-like
score cxrlabel's uncertain labels count as negative (the `validate` default).

Aggregation for the peer follows cxrlabel's: a label is positive when any of its mentions in the
report is not negated; `normal` is positive when no abnormal finding of the full vocabulary has a
non-negated mention. Both are scored with cxrlabel.metrics on the reports both labelled, and each
system's labelling time (setup excluded, one process, cxrlabel's sentence cache starting cold) gives
its reports/s.

    .venv/bin/python benchmarks/peer_negex.py [--termset en_clinical] [--json scores.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from cxrlabel.en.sections import split_sections
from cxrlabel.en.sentences import split_sentences
from cxrlabel.en.vocabulary import find_mentions, load_vocabulary
from cxrlabel.labelsets import LabelSet, load_label_set
from cxrlabel.metrics import rounded
from cxrlabel.readers import iter_reports
from cxrlabel.registry import create_labeler
from cxrlabel.runner import label_mixed_batch
from cxrlabel.types import Report, ReportResult, State
from cxrlabel.validation import OPENI_DIR, predicted_value, read_gold, score_predictions

BATCH = 64
SPAN_KEY = "mentions"
# The one radiology negation trigger missing from negspacy's clinical termset that the OpenI reports
# use constantly ("The lungs are clear of focal airspace disease, pneumothorax, or pleural
# effusion."); without it the peer would be a strawman. --stock leaves the termset as shipped.
RADIOLOGY_PRECEDING = ["clear of"]


class NegexPeer:
    """Same sentences and vocabulary mentions as cxrlabel; negation decided by negspacy's NegEx."""

    def __init__(self, label_set: LabelSet, termset: str, extra_preceding: list[str]):
        import negspacy.negation  # noqa: F401  (registers the "negex" factory)
        import spacy
        from negspacy.termsets import termset as negex_termset
        from spacy.language import Language

        self.label_set = label_set
        self.vocabulary = load_vocabulary()
        self.abnormal = {f.name for f in self.vocabulary if f.abnormal}
        self.finding_labels: dict[str, list[str]] = {}
        for label in label_set.labels:
            for finding in label.findings:
                self.finding_labels.setdefault(finding, []).append(label.name)
        vocabulary = self.vocabulary

        @Language.component("cxrlabel_sentence_mentions")
        def sentence_mentions(doc):
            """The doc is one cxrlabel sentence; its vocabulary matches become spans."""
            for token in doc:
                token.is_sent_start = token.i == 0
            spans = (doc.char_span(m.start, m.end, label=m.finding, alignment_mode="expand")
                     for m in find_mentions(doc.text, vocabulary))
            doc.spans[SPAN_KEY] = [s for s in spans if s is not None]
            return doc

        self.nlp = spacy.blank("en")
        self.nlp.add_pipe("cxrlabel_sentence_mentions")
        patterns = negex_termset(termset).get_patterns()
        patterns["preceding_negations"] = [*patterns["preceding_negations"], *extra_preceding]
        self.nlp.add_pipe("negex", config={"neg_termset": patterns, "span_keys": [SPAN_KEY]})

    def label_batch(self, reports: list[Report]) -> list[ReportResult]:
        located = [(index, sentence.text) for index, report in enumerate(reports)
                   for section in split_sections(report) for sentence in split_sentences(section.text)]
        states: list[dict[str, list[State]]] = [{} for _ in reports]
        abnormal_seen = [False] * len(reports)
        docs = self.nlp.pipe((text for _, text in located), batch_size=256)
        for (index, _), doc in zip(located, docs, strict=True):
            for span in doc.spans[SPAN_KEY]:
                state = State.NEGATIVE if span._.negex else State.POSITIVE
                for label in self.finding_labels.get(span.label_, []):
                    states[index].setdefault(label, []).append(state)
                abnormal_seen[index] |= span.label_ in self.abnormal and state == State.POSITIVE
        results = []
        for index, report in enumerate(reports):
            labels = {}
            for spec in self.label_set.labels:
                if spec.derived == "normal":
                    labels[spec.name] = State.NEGATIVE if abnormal_seen[index] else State.POSITIVE
                elif spec.name in states[index]:
                    found = states[index][spec.name]
                    labels[spec.name] = State.POSITIVE if State.POSITIVE in found else State.NEGATIVE
            results.append(ReportResult(report.id, labels, []))
        return results


def label_all(labeler, reports: list[Report]) -> tuple[dict[str, ReportResult], float]:
    """Results by report id and the labelling time in seconds."""
    started = time.perf_counter()
    results = {}
    for start in range(0, len(reports), BATCH):
        for item in label_mixed_batch(labeler, reports[start : start + BATCH]):
            if isinstance(item, ReportResult):
                results[item.report_id] = item
    return results, time.perf_counter() - started


def score(results: dict[str, ReportResult], gold: dict, ids: list[str], names: list[str],
          label_set: LabelSet) -> dict:
    gold_matrix = np.array([[gold[i][n] for n in names] for i in ids])
    pred_matrix = np.array([[predicted_value(results[i].labels.get(n), "negative") for n in names] for i in ids])
    return rounded({"n_reports": len(ids), **score_predictions(gold_matrix, pred_matrix, names, label_set)})


def print_table(title: str, scores: dict, names: list[str], console: Console) -> None:
    table = Table(title=title)
    for column in ("label", "precision", "recall", "F1", "support"):
        table.add_column(column, justify="left" if column == "label" else "right")
    rows = [(n, scores["labels"][n]) for n in names] + [
        ("micro", scores["micro"]),
        ("macro", scores["macro"]),
        (f"macro ({scores['macro_findings']['n_labels']} findings)", scores["macro_findings"]),
        ("ChestX-ray8 micro (8 findings + normal)", scores["chestxray8_micro"]),
    ]
    for name, row in rows:
        table.add_row(name, f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}",
                      str(row["support"]))
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gold", type=Path, default=OPENI_DIR / "gold_dev.csv", help="gold CSV (OpenI layout)")
    parser.add_argument("--reports", type=Path, default=OPENI_DIR / "reports_dev.csv",
                        help="reports CSV (uid,findings,impression)")
    parser.add_argument("--termset", default="en_clinical",
                        choices=["en", "en_clinical", "en_clinical_sensitive"], help="negspacy termset")
    parser.add_argument("--stock", action="store_true",
                        help=f"use the termset as shipped, without the radiology trigger(s) {RADIOLOGY_PRECEDING}")
    parser.add_argument("--parser", default="spacy", help="cxrlabel parser backend (spacy or stanza)")
    parser.add_argument("--json", type=Path, default=None, help="write both systems' scores here")
    args = parser.parse_args()
    console = Console(width=132)
    try:
        import negspacy  # noqa: F401
    except ImportError:
        print("negspacy is not installed; this peer benchmark is skipped "
              "(install it into the venv for the benchmark only: pip install negspacy)")
        return

    label_set = load_label_set("chestxray14")
    gold, names = read_gold(args.gold, label_set)
    reports = [item for item in iter_reports(args.reports) if item.id in gold and isinstance(item, Report)]

    started = time.perf_counter()
    ours = create_labeler("en", label_set, parser=args.parser)
    ours_setup = time.perf_counter() - started
    started = time.perf_counter()
    extra = [] if args.stock else RADIOLOGY_PRECEDING
    peer = NegexPeer(label_set, args.termset, extra)
    peer_setup = time.perf_counter() - started

    ours_results, ours_seconds = label_all(ours, reports)
    peer_results, peer_seconds = label_all(peer, reports)
    ids = [i for i in gold if i in ours_results and i in peer_results]
    systems = {
        f"cxrlabel (dependency-graph rules, parser {args.parser})": (ours_results, ours_seconds, ours_setup),
        f"peer: negspacy NegEx, termset {args.termset}{' + ' + ', '.join(map(repr, extra)) if extra else ''}": (
            peer_results, peer_seconds, peer_setup),
    }
    print(f"{len(ids)} reports with text scored against {args.gold} "
          f"({len(gold) - len(ids)} gold reports have no text); same sentences and vocabulary mentions for both")
    summary = Table(title="Side by side (cxrlabel's uncertain counted as negative)")
    for column in ("system", "ChestX-ray8 micro P / R / F1", "micro F1", "macro F1 (findings)", "reports/s",
                   "setup s"):
        summary.add_column(column, justify="left" if column == "system" else "right")
    all_scores = {}
    for name, (results, seconds, setup) in systems.items():
        scores = score(results, gold, ids, names, label_set)
        scores["reports_per_second"] = round(len(reports) / seconds, 1)
        all_scores[name] = scores
        print_table(f"{name}: labels vs gold ({len(ids)} reports)", scores, names, console)
        cx8 = scores["chestxray8_micro"]
        summary.add_row(name, f"{cx8['precision']:.3f} / {cx8['recall']:.3f} / {cx8['f1']:.3f}",
                        f"{scores['micro']['f1']:.3f}", f"{scores['macro_findings']['f1']:.3f}",
                        f"{scores['reports_per_second']:.1f}", f"{setup:.1f}")
    console.print(summary)
    if args.json:
        args.json.write_text(json.dumps(all_scores, indent=2))


if __name__ == "__main__":
    sys.exit(main())
