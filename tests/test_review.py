"""`cxrlabel review` read with an HTML parser (no browser): the page contract of the issue-14 brief on real runs."""

import csv
import json
import os
import shutil
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cxrlabel.cli import app

DATA = Path(__file__).parent / "data"
VOID = {"meta", "input", "br", "img", "hr", "link"}
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@dataclass
class Node:
    tag: str
    attrs: dict
    children: list = field(default_factory=list)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def find_all(self, tag: str, **attrs) -> list["Node"]:
        found = []
        for child in self.children:
            if isinstance(child, Node):
                if child.tag == tag and all(_has(child, k.replace("_", "-"), v) for k, v in attrs.items()):
                    found.append(child)
                found += child.find_all(tag, **attrs)
        return found

    def find(self, tag: str, **attrs) -> "Node":
        found = self.find_all(tag, **attrs)
        assert found, f"no <{tag} {attrs}>"
        return found[0]


def _has(node: Node, name: str, value) -> bool:
    if name == "class-":  # class_ : one of the classes
        return value in node.attrs.get("class", "").split()
    return node.attrs.get(name) == value if value is not True else name in node.attrs


class TreeBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag):
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def parse_page(path: Path) -> Node:
    builder = TreeBuilder()
    builder.feed(path.read_text(encoding="utf-8"))
    builder.close()
    assert builder.stack == [builder.root], "unclosed elements"
    return builder.root


def mine(reports: Path, out: Path, *options) -> Path:
    result = invoke("mine", reports, "--out", out, *options)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def en_run(tmp_path_factory):
    return mine(DATA / "en_challenge.csv", tmp_path_factory.mktemp("en") / "run", "--lang", "en")


@pytest.fixture(scope="module")
def zh_run(tmp_path_factory):
    return mine(DATA / "zh_real3.csv", tmp_path_factory.mktemp("zh") / "run", "--lang", "zh")


def read_labels(run: Path) -> dict[str, dict[str, str]]:
    with open(run / "labels.csv", newline="") as handle:
        return {row.pop("id"): row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def en_gold_with_errors(en_run, tmp_path_factory):
    """The challenge gold with two values changed, so the run disagrees with it: an Effusion the run calls positive
    made 0 (a false positive) and a Cardiomegaly it does not call positive made 1 (a false negative), both on
    reports in the second half of the run. Returns (gold path, FP report id, FN report id)."""
    labels = read_labels(en_run)
    second_half = list(labels)[len(labels) // 2:]
    fp_id = next(i for i in second_half if labels[i]["Effusion"] == "1")
    fn_id = next(i for i in second_half if labels[i]["Cardiomegaly"] != "1" and i != fp_id)
    with open(DATA / "en_challenge_gold.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        rows, columns = list(reader), reader.fieldnames
    for row in rows:
        if row["filename"] == f"CXR{fp_id}":
            assert row["Effusion"] == "1"
            row["Effusion"] = "0"
        if row["filename"] == f"CXR{fn_id}":
            assert row["Cardiomegaly"] == "0"
            row["Cardiomegaly"] = "1"
    gold = tmp_path_factory.mktemp("gold") / "gold.csv"
    with open(gold, "w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(rows)
    return gold, fp_id, fn_id


@pytest.fixture(scope="module")
def en_page(en_run, en_gold_with_errors, tmp_path_factory):
    gold = en_gold_with_errors[0]
    out = tmp_path_factory.mktemp("page") / "review.html"
    result = invoke("review", en_run, "--gold", gold, "--reports", DATA / "en_challenge.csv", "--out", out)
    assert result.exit_code == 0, result.output
    return out


def mentions_of(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "mentions.jsonl").read_text(encoding="utf-8").splitlines()]


def test_en_page_shows_every_report_disagreements_first(en_run, en_page, en_gold_with_errors):
    _, fp_id, fn_id = en_gold_with_errors
    root = parse_page(en_page)
    articles = root.find_all("article", class_="report")
    assert sorted(a.attrs["data-id"] for a in articles) == sorted(read_labels(en_run))
    assert {a.attrs["data-id"] for a in articles[:2]} == {fp_id, fn_id}
    by_id = {a.attrs["data-id"]: a for a in articles}
    assert by_id[fp_id].attrs["data-errors"] == "FP:Effusion"
    assert by_id[fn_id].attrs["data-errors"] == "FN:Cardiomegaly"
    assert all(a.attrs["data-errors"] == "" for a in articles[2:])
    assert "Effusion:positive" in by_id[fp_id].attrs["data-states"].split()
    assert root.find("span", id="shown-count").text() == str(len(articles))
    assert "all 2 reports that disagree" in root.find("p", id="sampling").text()


def test_en_report_text_and_mentions(en_run, en_page):
    """Each report shows its text from --reports, and every mention of mentions.jsonl is a mark with its state,
    rule and label, in a sentence that draws its graph."""
    root = parse_page(en_page)
    by_id = {a.attrs["data-id"]: a for a in root.find_all("article", class_="report")}
    with open(DATA / "en_challenge.csv", newline="") as handle:
        first = next(csv.DictReader(handle))
    assert first["findings"] in by_id[first["uid"]].find("div", class_="report-text").text()
    mentions = mentions_of(en_run)
    marks = [m for a in by_id.values() for m in a.find_all("mark")]
    assert len(marks) == len(mentions)
    assert {(m.attrs["data-rule"], m.attrs["class"], m.text()) for m in marks} == {
        (m["rule_id"], f"mention {m['state']}", m["text"]) for m in mentions}
    report = by_id["90001"]  # "The lungs are free of infiltrate, effusion, or pneumothorax."
    effusion = next(m for m in report.find_all("mark") if m.text() == "effusion")
    assert effusion.attrs["data-rule"] == "neg.clear_of"
    assert effusion.attrs["data-label"] == "Effusion"
    assert effusion.attrs["title"].startswith("neg.clear_of")
    sentence = report.find("span", class_="has-graph")
    assert effusion in sentence.find_all("mark")
    graphs = json.loads(root.find("script", id="graph-data").text())
    graph = graphs[sentence.attrs["data-graph"]]
    words = graph["words"]
    assert words[:4] == ["The", "lungs", "are", "free"]
    edges = {(words[h], label, words[d]) for h, d, label in graph["edges"]}
    assert ("free", "prep_of", "effusion") in edges  # the collapsed preposition, as `cxrlabel explain` shows
    assert graph["states"][str(words.index("effusion"))] == "negative"
    assert root.find("div", id="graph")


def test_en_prf_table_matches_validate(en_page, en_gold_with_errors, tmp_path):
    gold = en_gold_with_errors[0]
    scores_path = tmp_path / "scores.json"
    result = invoke("validate", "--gold", gold, "--reports", DATA / "en_challenge.csv", "--json", scores_path)
    assert result.exit_code == 0, result.output
    scores = json.loads(scores_path.read_text())
    rows = {tr.attrs["data-label"]: tr for tr in parse_page(en_page).find("table", id="prf").find_all("tr")
            if "data-label" in tr.attrs}
    assert set(rows) == set(scores["labels"])
    for name, expected in scores["labels"].items():
        cells = {td.attrs["class"]: td for td in rows[name].find_all("td")}
        for metric in ("precision", "recall", "f1"):
            assert float(cells[metric].attrs["data-value"]) == expected[metric]
            assert cells[metric].text() == f"{expected[metric]:.3f}"
        for count in ("support", "tp", "fp", "fn"):
            assert int(cells[count].text()) == expected[count]
    assert rows["Effusion"].find("td", class_="fp").text() == "1"
    assert rows["Cardiomegaly"].find("td", class_="fn").text() == "1"


def test_counts_and_no_external_url(en_run, en_page):
    root = parse_page(en_page)
    summary = json.loads((en_run / "summary.json").read_text())
    for tr in root.find("table", id="counts").find_all("tr", data_label=True):
        counts = {td.attrs["class"]: int(td.text()) for td in tr.find_all("td") if td.attrs.get("class")}
        expected = summary["counts"][tr.attrs["data-label"]]
        assert counts == expected  # positive, negative, uncertain, not_mentioned
    text = en_page.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text
    for tag in ("script", "link", "img", "a", "iframe"):
        for node in root.find_all(tag):
            assert not node.attrs.get("src") and not node.attrs.get("href"), node.attrs
    for control in ("filter-label", "filter-state", "filter-error"):
        options = [o.attrs["value"] for o in root.find("select", id=control).find_all("option")]
        assert options[0] == ""
    assert [o.attrs["value"] for o in root.find("select", id="filter-error").find_all("option")] == ["", "FP", "FN"]
    assert root.find("input", id="search")


def test_zh_page_clauses_cues_and_exemplars(zh_run, tmp_path):
    out = tmp_path / "zh.html"
    result = invoke("review", zh_run, "--gold", DATA / "zh_real3.csv", "--out", out)  # the gold holds the text
    assert result.exit_code == 0, result.output
    root = parse_page(out)
    articles = root.find_all("article", class_="report")
    assert len(articles) == len(read_labels(zh_run))
    marks = [m for a in articles for m in a.find_all("mark")]
    assert len(marks) == len(mentions_of(zh_run))
    uncertain = next(m for m in marks if m.attrs["data-rule"] == "zh.exemplar:积液|cue:可能")
    assert uncertain.attrs["class"] == "mention uncertain"
    assert uncertain.attrs["data-label"] == "pleural_effusion"
    assert "exemplar 积液, cue 可能" in uncertain.attrs["title"]
    r001 = next(a for a in articles if a.attrs["data-id"] == "r001")
    assert "心影偏大,心胸比约0.56" in r001.find("div", class_="report-text").text()
    diagnosis = [s for s in r001.find_all("span", class_="sentence") if s.attrs["data-section"] == "diagnosis"]
    assert [s.text() for s in diagnosis][:2] == ["两肺纹理增多、增粗", "主动脉硬化"]
    r012 = next(a for a in articles if a.attrs["data-id"] == "r012")  # the labeler reads 肋隔角 as 肋膈角
    assert "右肋隔角变钝" in r012.find("div", class_="report-text").text()
    assert [m.text() for m in r012.find("div", class_="normalised").find_all("mark")] == ["右肋膈角变钝"]
    assert not root.find_all("span", class_="has-graph") and not root.find_all("div", id="graph")
    assert root.find("table", id="prf").find("tr", data_label="pleural_effusion")


def test_zh_regions_run_without_gold(tmp_path):
    run = mine(DATA / "zh_real3.csv", tmp_path / "run", "--lang", "zh", "--labels", "regions5")
    out = tmp_path / "regions.html"
    result = invoke("review", run, "--out", out)
    assert result.exit_code == 0, result.output
    root = parse_page(out)
    assert not root.find_all("table", id="prf")
    marks = root.find_all("mark", class_="mention")
    assert {m.attrs["data-label"] for m in marks} <= {"thorax", "lungs", "aorta", "heart", "diaphragm_costophrenic"}
    assert len(marks) == len(mentions_of(run))
    assert "Showing all 137 reports" in root.find("p", id="sampling").text()


def test_sampling_is_seeded_and_stated(en_run, tmp_path):
    pages = []
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        out = tmp_path / f"{name}.html"
        result = invoke("review", en_run, "--sample", 20, "--seed", seed, "--out", out)
        assert result.exit_code == 0, result.output
        root = parse_page(out)
        pages.append([a.attrs["data-id"] for a in root.find_all("article", class_="report")])
        sampling = root.find("p", id="sampling").text()
        assert f"20 of 217 reports of the run, drawn at random (seed {seed}" in sampling
        assert "give --reports for the full text" in root.find("p", class_="note").text()
        assert not root.find_all("table", id="prf")
    assert len(pages[0]) == 20 and pages[0] == pages[1] and pages[0] != pages[2]
    order = list(read_labels(en_run))
    assert pages[0] == sorted(pages[0], key=order.index)  # run order kept


@pytest.mark.parametrize("problem", ["no_run", "no_match", "not_a_gold", "incomplete", "bad_labels"])
def test_user_errors_are_one_line(problem, en_run, tmp_path):
    run, args = en_run, []
    if problem == "no_run":
        run = tmp_path
        expected = "is not a `cxrlabel mine` run folder: no summary.json, labels.csv, mentions.jsonl"
    elif problem == "no_match":
        gold = tmp_path / "gold.csv"
        gold.write_text("id,Effusion\nnope1,1\nnope2,0\n")
        args, expected = ["--gold", gold], "no report id of"
    elif problem == "not_a_gold":
        gold = tmp_path / "gold.csv"
        gold.write_text("id,Something\n90001,1\n")
        args, expected = ["--gold", gold], "no gold column matches the label set"
    else:
        run = tmp_path / "run"
        shutil.copytree(en_run, run)
        if problem == "incomplete":
            summary = json.loads((run / "summary.json").read_text())
            (run / "summary.json").write_text(json.dumps({**summary, "complete": False}))
            expected = "the run is incomplete"
        else:
            with open(run / "labels.csv", "a") as handle:
                handle.write("x,2\n")
            expected = "labels.csv:219: expected 16 fields"
    result = invoke("review", run, *args, "--out", tmp_path / "r.html")
    assert result.exit_code == 2
    assert expected in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1 or expected in result.output.strip().splitlines()[0]
    assert not (tmp_path / "r.html").exists()


def test_reports_without_matching_ids(en_run, tmp_path):
    reports = tmp_path / "other.csv"
    reports.write_text("id,findings\nzzz,No effusion.\n")
    result = invoke("review", en_run, "--reports", reports, "--out", tmp_path / "r.html")
    assert result.exit_code == 2
    assert "no report id of" in result.output and "matches a shown report" in result.output


def test_review_runs_on_the_core_install(en_run, zh_run, tmp_path):
    """No extra needed: jinja2 comes with the core install (a declared dependency)."""
    from test_registry_core_install import BLOCKER, run_core

    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    env = {key: value for key, value in os.environ.items() if not key.startswith("CXRLABEL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(Path(__file__).resolve().parents[1])])
    for run, options in ((zh_run, ["--gold", DATA / "zh_real3.csv"]), (en_run, ["--sample", "3"])):
        out = tmp_path / f"{run.parent.name}.html"
        result = run_core(env, "cxrlabel", "review", str(run), *map(str, options), "--out", str(out))
        assert result.returncode == 0, result.stderr
        assert parse_page(out).find_all("article", class_="report")


def test_text_is_escaped(tmp_path):
    """Report text and ids that look like markup stay text: in the report, in the marks and in the graph JSON."""
    reports = tmp_path / "reports.csv"
    with open(reports, "w", newline="") as handle:
        csv.writer(handle).writerows([["id", "findings"],
                                      ["a<b>&1", "No pleural effusion </script><script>alert(1)</script> seen."]])
    run = mine(reports, tmp_path / "run", "--lang", "en")
    out = tmp_path / "page.html"
    result = invoke("review", run, "--reports", reports, "--out", out)
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "alert(1)" in html and "<script>alert" not in html and "<b>" not in html
    root = parse_page(out)
    article = root.find("article", class_="report")
    assert article.attrs["data-id"] == "a<b>&1"
    assert "</script><script>alert(1)</script>" in article.find("div", class_="report-text").text()
    assert len(root.find_all("script")) == 2  # the graph JSON and the page's own script, nothing injected
    graphs = json.loads(root.find("script", id="graph-data").text())
    assert any("alert" in "".join(graph["words"]) for graph in graphs.values())
