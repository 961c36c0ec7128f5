"""Parts from another package: a real tiny plugin registered through catalogue's API (in process) and through
entry points of a dist-info folder on sys.path (the `cxrlabel` command in a subprocess), installing nothing."""

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import catalogue
import pytest
from typer.testing import CliRunner

from cxrlabel import registry
from cxrlabel.cli import app
from cxrlabel.errors import UserError

PLUGIN = '''
"""cxr_tinyplugin: a keyword labeler for language "kw", its label set, an English label set and a parser."""

from pathlib import Path

from cxrlabel.registry import parser_class
from cxrlabel.types import ReportResult, State

HERE = Path(__file__).parent


class KeywordLabeler:
    """A label is positive when its name occurs in the text, negative after "no "."""

    def __init__(self, label_set, **options):
        self.label_set = label_set

    def label_batch(self, reports):
        results = []
        for report in reports:
            text = report.text.lower()
            states = {}
            for name in self.label_set.names:
                if f"no {name}" in text:
                    states[name] = State.NEGATIVE
                elif name in text:
                    states[name] = State.POSITIVE
            results.append(ReportResult(report.id, states))
        return results


class CachingSpacyParser:
    """The spaCy backend behind a per-sentence cache: another package's parser."""

    name = "cached_spacy"

    def __init__(self):
        self.inner = parser_class("spacy")()
        self.cache = {}

    def parse(self, sentences):
        missing = [s for s in dict.fromkeys(sentences) if s not in self.cache]
        self.cache.update(zip(missing, self.inner.parse(missing)))
        return [self.cache[s] for s in sentences]


def keyword_labels():
    return HERE / "cxr_tinyplugin_kw.yml"


def effusion_pneumothorax():
    return HERE / "cxr_tinyplugin_en.yml"
'''
KEYWORD_LABELS = "name: kw_words\nlang: kw\nlabels:\n  - {name: apple}\n  - {name: pear}\n"
EN_LABELS = ("name: effusion_pneumothorax\nlang: en\nlabels:\n  - {name: Effusion, findings: [pleural_effusion]}\n"
             "  - {name: Pneumothorax, findings: [pneumothorax]}\n")
ENTRY_POINTS = """
[cxrlabel_labelers]
kw = cxr_tinyplugin:KeywordLabeler

[cxrlabel_parsers]
cached_spacy = cxr_tinyplugin:CachingSpacyParser

[cxrlabel_label_sets]
kw_words = cxr_tinyplugin:keyword_labels
effusion_pneumothorax = cxr_tinyplugin:effusion_pneumothorax
"""


def write_plugin(folder: Path) -> Path:
    """The plugin as an installed distribution would leave it: a module, its data and a dist-info folder."""
    folder.mkdir(exist_ok=True)
    (folder / "cxr_tinyplugin.py").write_text(PLUGIN)
    (folder / "cxr_tinyplugin_kw.yml").write_text(KEYWORD_LABELS)
    (folder / "cxr_tinyplugin_en.yml").write_text(EN_LABELS)
    info = folder / "cxr_tinyplugin-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cxr-tinyplugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(ENTRY_POINTS))
    return folder


REPORTS = {
    "r1": "IMPRESSION: Small left pleural effusion. No pneumothorax.",
    "r2": "IMPRESSION: Large right pneumothorax. No pleural effusion.",
    "r3": "IMPRESSION: Apple seen, no pear.",
}


@pytest.fixture
def reports(tmp_path):
    folder = tmp_path / "reports"
    folder.mkdir()
    for name, text in REPORTS.items():
        (folder / f"{name}.txt").write_text(text)
    return folder


def read_labels(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "labels.csv", newline="") as handle:
        return {row.pop("id"): row for row in csv.DictReader(handle)}


@pytest.fixture
def plugin_module(tmp_path, monkeypatch):
    """The plugin importable in this process; registrations made by a test are undone after it."""
    monkeypatch.syspath_prepend(str(write_plugin(tmp_path / "plugin")))
    monkeypatch.setattr(catalogue, "REGISTRY", dict(catalogue.REGISTRY))
    import cxr_tinyplugin

    yield cxr_tinyplugin
    sys.modules.pop("cxr_tinyplugin", None)


def test_registered_through_the_catalogue_api(plugin_module, reports, tmp_path):
    registry.labelers.register("kw", func=plugin_module.KeywordLabeler)
    registry.label_sets.register("kw_words", func=plugin_module.keyword_labels)
    assert "kw_words" in registry.available_label_sets() and "kw" in registry.registered_names(registry.labelers)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["mine", str(reports), "--lang", "kw", "--labels", "kw_words", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert read_labels(out) == {"r1": {"apple": "", "pear": ""}, "r2": {"apple": "", "pear": ""},
                                "r3": {"apple": "1", "pear": "0"}}
    assert json.loads((out / "summary.json").read_text())["label_set"] == "kw_words"


def test_explain_reads_a_registered_english_label_set(plugin_module):
    registry.label_sets.register("effusion_pneumothorax", func=plugin_module.effusion_pneumothorax)
    result = CliRunner().invoke(app, ["explain", "Small left pleural effusion. No pneumothorax.", "--labels",
                                      "effusion_pneumothorax"])
    assert result.exit_code == 0, result.output
    assert "Effusion" in result.output and "Cardiomegaly" not in result.output


def test_unregistered_names_are_refused_with_the_choices(plugin_module):
    with pytest.raises(UserError, match=r"unknown --lang 'kw': choose one of en, zh$"):
        registry.label_set_for("kw", None)
    registry.labelers.register("kw", func=plugin_module.KeywordLabeler)
    with pytest.raises(UserError, match="--lang kw has no default label set"):
        registry.label_set_for("kw", None)
    with pytest.raises(UserError, match=r"unknown parser 'cached_spacy': choose one of spacy, stanza$"):
        registry.parser_class("cached_spacy")
    with pytest.raises(UserError, match="unknown label set 'kw_words'"):
        registry.load_label_set("kw_words")


def test_a_registered_label_set_is_checked_like_a_user_file(plugin_module, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("name: bad\nlang: en\nlabels:\n  - {name: Effusion, findings: [no_such_finding]}\n")
    registry.label_sets.register("bad", func=lambda: bad)
    with pytest.raises(UserError, match=r"bad.yml:4: label 'Effusion' names unknown finding 'no_such_finding'"):
        registry.load_label_set("bad")
    registry.label_sets.register("no_file", func=lambda: tmp_path / "labels")
    with pytest.raises(UserError, match="no .yml file"):
        registry.load_label_set("no_file")


def test_the_shipped_label_set_wins_over_a_registered_name(plugin_module):
    registry.label_sets.register("chestxray14", func=plugin_module.effusion_pneumothorax)
    assert len(registry.load_label_set("chestxray14").names) == 15


def test_entry_points_of_an_installed_package_reach_the_cli(reports, tmp_path):
    plugin = write_plugin(tmp_path / "site")
    env = {key: value for key, value in os.environ.items() if not key.startswith("CXRLABEL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(plugin), str(Path(__file__).resolve().parents[1])])
    cxrlabel = str(Path(sys.executable).with_name("cxrlabel"))

    def mine(out, *options):
        result = subprocess.run([cxrlabel, "mine", str(reports), "--out", str(out), *options], env=env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        return read_labels(out)

    assert mine(tmp_path / "kw", "--lang", "kw", "--labels", "kw_words")["r3"] == {"apple": "1", "pear": "0"}
    cached = mine(tmp_path / "cached", "--labels", "effusion_pneumothorax", "--parser", "cached_spacy")
    assert cached == {"r1": {"Effusion": "1", "Pneumothorax": "0"}, "r2": {"Effusion": "0", "Pneumothorax": "1"},
                      "r3": {"Effusion": "", "Pneumothorax": ""}}
    assert json.loads((tmp_path / "cached" / "summary.json").read_text())["parser"] == "cached_spacy"
    unknown = subprocess.run([cxrlabel, "mine", str(reports), "--parser", "nope", "--out", str(tmp_path / "x")],
                             env=env, capture_output=True, text=True, timeout=300)
    assert unknown.returncode == 2
    assert "unknown parser 'nope': choose one of cached_spacy, spacy, stanza" in unknown.stderr
