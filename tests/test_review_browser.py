"""`cxrlabel review` as a user sees it: the page opened from file:// in headless Chromium (tests/browser.py; skips
with the reason when Chromium or Playwright is absent). Highlights, hover rule ids, the filters, the search and the
dependency graph are checked on a small mined run with a hand-made gold; the page must log no console error and
request nothing beyond the file. A screenshot is kept in test-artifacts/review.png."""

import csv
import json
from pathlib import Path

import pytest
from browser import chromium, keep_screenshot, open_file
from typer.testing import CliRunner

from cxrlabel.cli import app

# id, report text, gold labels (a hand-made gold with one FP and two FN against the labeler's reading)
REPORTS = [
    ("case-101", "There is a small right pleural effusion.", {"Effusion"}),
    ("case-102", "No pneumothorax. Mild cardiomegaly.", {"Effusion", "Cardiomegaly"}),  # FN Effusion
    ("case-103", "Pneumonia cannot be excluded. No pleural effusion.", {"Pneumonia"}),  # uncertain: FN Pneumonia
    ("case-104", "Small left apical pneumothorax.", set()),  # FP Pneumothorax
    ("case-105", "The lungs are clear. Heart size is normal.", set()),
    ("case-106", "Large right pneumothorax. Small left pleural effusion.", {"Pneumothorax", "Effusion"}),
]
GOLD_LABELS = ["Effusion", "Pneumothorax", "Cardiomegaly", "Pneumonia"]


def invoke(*args):
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def review_html(tmp_path_factory) -> Path:
    """mine + review on the six reports above, once per module."""
    folder = tmp_path_factory.mktemp("review")
    reports, gold, run = folder / "reports.csv", folder / "gold.csv", folder / "run"
    with open(reports, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "findings"])
        writer.writerows((report_id, text) for report_id, text, _ in REPORTS)
    with open(gold, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", *GOLD_LABELS])
        writer.writerows([report_id, *(int(label in labels) for label in GOLD_LABELS)]
                         for report_id, _, labels in REPORTS)
    invoke("mine", reports, "--lang", "en", "--out", run)
    invoke("review", run, "--gold", gold, "--reports", reports, "--out", folder / "review.html")
    return folder / "review.html"


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture
def watched(browser, review_html):
    """A fresh page on the review file; after the test, it must have logged no error and requested nothing."""
    page = open_file(browser, review_html)
    yield page
    assert page.console_errors == []
    assert page.network_requests() == []
    page.page.context.close()


def shown_ids(page) -> list[str]:
    return page.eval_on_selector_all("article.report:not([hidden])", "nodes => nodes.map(n => n.dataset.id)")


def shown_count(page) -> int:
    return int(page.inner_text("#shown-count").strip())


def ids_where(page, predicate_js: str) -> list[str]:
    """Ids of all reports (shown or not) whose dataset satisfies the JS predicate `d => ...`."""
    return page.eval_on_selector_all(
        "article.report", f"nodes => nodes.filter(n => ({predicate_js})(n.dataset)).map(n => n.dataset.id)")


def background(page, selector: str) -> str:
    return page.eval_on_selector(selector, "node => getComputedStyle(node).backgroundColor")


def test_mentions_are_highlighted_by_state_with_the_rule_on_hover(watched, review_html):
    page = watched.page
    assert shown_count(page) == len(REPORTS) == len(shown_ids(page))
    positive, negative = background(page, "mark.mention.positive"), background(page, "mark.mention.negative")
    plain = page.eval_on_selector("article.report", "node => getComputedStyle(node).backgroundColor")
    assert len({positive, negative, plain}) == 3, (positive, negative, plain)
    assert background(page, "mark.mention.uncertain") not in {positive, negative, plain}
    marks = page.eval_on_selector_all(
        "mark.mention", "nodes => nodes.map(n => ({id: n.closest('article').dataset.id, text: n.textContent,"
        " rule: n.dataset.rule, title: n.title, label: n.dataset.label, states: [...n.classList]}))")
    for mark in marks:
        assert mark["rule"] and mark["rule"] in mark["title"] and mark["label"], mark
    shown = {(mark["id"], mark["text"], state, mark["rule"]) for mark in marks
             for state in ("positive", "negative", "uncertain") if state in mark["states"]}
    with open(review_html.parent / "run" / "mentions.jsonl") as handle:
        mined = [json.loads(line) for line in handle]
    assert shown == {(m["report_id"], m["text"], m["state"], m["rule_id"]) for m in mined}  # each mention, as mined
    assert ("case-104", "pneumothorax", "positive", "default.positive") in shown
    assert {state for _, _, state, _ in shown} == {"positive", "negative", "uncertain"}


def test_error_filter_shows_only_the_reports_with_that_error(watched):
    page = watched.page
    page.select_option("#filter-error", "FN")
    assert sorted(shown_ids(page)) == sorted(ids_where(page, "d => d.errors.split(' ').some(e => e.startsWith('FN:'))"))
    assert sorted(shown_ids(page)) == ["case-102", "case-103"]
    assert shown_count(page) == 2
    page.select_option("#filter-error", "FP")
    assert shown_ids(page) == ["case-104"] and shown_count(page) == 1
    page.select_option("#filter-error", "")
    assert shown_count(page) == len(REPORTS)


def test_label_and_state_filters(watched):
    page = watched.page
    page.select_option("#filter-label", "Pneumothorax")
    expected = ids_where(page, "d => d.labels.split(' ').includes('Pneumothorax')")
    assert sorted(shown_ids(page)) == sorted(expected) and shown_count(page) == len(expected)
    assert {"case-104", "case-106"} <= set(expected) and "case-101" not in expected
    page.select_option("#filter-label", "")
    page.select_option("#filter-state", "uncertain")
    expected = ids_where(page, "d => d.states.split(' ').some(s => s.endsWith(':uncertain'))")
    assert sorted(shown_ids(page)) == sorted(expected) == ["case-103"] and shown_count(page) == 1


def test_search_narrows_to_an_id_or_text_ignoring_case(watched):
    page = watched.page
    page.fill("#search", "CASE-105")
    assert shown_ids(page) == ["case-105"] and shown_count(page) == 1
    page.fill("#search", "Apical")
    assert shown_ids(page) == ["case-104"]
    page.fill("#search", "")
    assert shown_count(page) == len(REPORTS)


def test_clicking_a_sentence_draws_its_dependency_graph(watched):
    page = watched.page
    assert page.locator("#graph svg").count() == 0
    page.locator("article.report .has-graph").first.click()
    assert page.locator("#graph svg").count() == 1
    assert page.locator("#graph svg path").count() >= 1  # the arcs
    keep_screenshot(page, "review")
