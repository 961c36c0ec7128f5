"""`cxrtrain report` as a user sees it: the page of a tiny run (trained, evaluated and drawn here on the CPU)
opened from file:// in headless Chromium (tests/browser.py; skips with the reason when Chromium or Playwright is
absent). The AUC table shows every class of metrics.json, every embedded image decodes in the browser (the ROC
curve and each heatmap, scrolled into view as a user would), no console error, no request beyond the file. A
screenshot is kept in test-artifacts/train-report.png."""

import json

import pytest
from browser import chromium, keep_screenshot, open_file
from typer.testing import CliRunner

from cxrtrain.cli import app
from cxrtrain.evaluate import evaluate_run
from cxrtrain.heatmap import heatmap_run
from cxrtrain.train import fit
from tests.test_train_fit import synthetic_dataset, tiny_config
from tests.test_train_report import BOXES


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A one-epoch run, evaluated and drawn with gold boxes, and its report.html."""
    root = tmp_path_factory.mktemp("report-browser")
    fit(synthetic_dataset(root / "ds"), root / "run", tiny_config(epochs=1), log=lambda *_: None)
    evaluate_run(root / "run", min_positives=3, resamples=50)
    (root / "boxes.csv").write_text(BOXES)
    heatmap_run(root / "run", "test", root / "boxes.csv")
    result = CliRunner().invoke(app, ["report", str(root / "run")])
    assert result.exit_code == 0, result.output
    return root / "run"


@pytest.fixture(scope="module")
def browser():
    """Requested before the run, so that a machine without Chromium skips before training."""
    with chromium() as launched:
        yield launched


def loaded(page, selector: str) -> list[bool]:
    """For each image matched: decoded by the browser with a real size."""
    return page.eval_on_selector_all(selector, "nodes => nodes.map(n => n.complete && n.naturalWidth > 0)")


def test_report_page_shows_the_auc_table_and_every_image(browser, run):
    metrics = json.loads((run / "metrics.json").read_text())
    watched = open_file(browser, run / "report.html")
    page = watched.page
    rows = page.eval_on_selector_all(
        "#auc tr[data-label]", "nodes => nodes.map(n => [n.dataset.label, n.querySelector('td.auc').innerText,"
        " n.querySelector('td.ci95').innerText, n.getBoundingClientRect().height > 0])")
    assert sorted(label for label, *_ in rows) == sorted(metrics["labels"])
    for label, auc, interval, visible in rows:
        expected = metrics["labels"][label]
        assert visible and auc == ("—" if expected["auc"] is None else f"{expected['auc']:.3f}")
        if expected.get("ci95"):
            assert f"{expected['ci95'][0]:.3f}" in interval and f"{expected['ci95'][1]:.3f}" in interval
    assert loaded(page, "#roc img") == [True]
    figures = page.locator("#heatmaps figure.heatmap")
    assert figures.count() >= 1
    for index in range(figures.count()):  # lazy images load when scrolled to, as for a user
        figures.nth(index).scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                               arg=figures.nth(index).locator("img").element_handle())
    assert all(loaded(page, "img")) and len(loaded(page, "img")) == 2 + figures.count()  # + curve and ROC
    keep_screenshot(page, "train-report")
    assert watched.console_errors == []
    assert watched.network_requests() == []
