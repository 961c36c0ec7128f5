"""Chinese label discovery: clause table, edit-distance matrix, FasterPAM clusters, the cluster command and
labelling with the mapping it writes."""

import csv
import json
from collections import Counter

import numpy as np
from typer.testing import CliRunner

from cxrlabel.cli import app
from cxrlabel.types import Report
from cxrlabel.zh.cluster import Clustering, cluster_clauses, collect_clauses, distance_matrix, purity
from cxrlabel.zh.cluster_command import cjk_fonts


def test_clustering_separates_distinct_findings():
    reports = [Report(id=str(i), text="", sections={"diagnosis": d}) for i, d in enumerate(
        ["两肺纹理增多", "两肺纹理增粗", "两肺纹理增多增粗", "主动脉硬化", "主动脉结钙化", "主动脉硬化改变",
         "左肋膈角变钝", "右肋膈角变钝", "双侧肋膈角变钝"])]
    table = collect_clauses(reports)
    clauses = list(table.counts)
    distances = distance_matrix(clauses)
    assert distances.shape == (9, 9) and np.allclose(np.diag(distances), 0)
    clustering = cluster_clauses(clauses, distances, 3)
    family = {clause: next(key for key in ("纹理", "主动脉", "肋膈角") if key in clause) for clause in clauses}
    groups = {}
    for clause, label in zip(clauses, clustering.labels, strict=True):
        groups.setdefault(int(label), set()).add(family[clause])
    assert sorted(len(g) for g in groups.values()) == [1, 1, 1]  # each cluster holds one finding family


def run_cluster(tmp_path, diagnoses: list[str]):
    """`cxrlabel cluster -k 3` on a CSV of these diagnoses (one report each): the CLI result and the output folder."""
    source = tmp_path / "r.csv"
    with open(source, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "diagnosis"])
        writer.writerows([[str(i), d] for i, d in enumerate(diagnoses)])
    out = tmp_path / "clusters"
    return CliRunner().invoke(app, ["cluster", str(source), "--lang", "zh", "-k", "3", "--out", str(out)]), out


def test_cluster_command_writes_outputs(tmp_path):
    result, out = run_cluster(tmp_path, ["两肺纹理增多", "两肺纹理增粗", "主动脉硬化", "主动脉结钙化", "心影增大",
                                         "心脏增大"] * 2)
    assert result.exit_code == 0, result.output
    data = json.loads((out / "clusters.json").read_text())
    assert data["k"] == 3 and sum(c["size_clauses"] for c in data["clusters"]) == 12
    assert (out / "clusters.png").stat().st_size > 1000
    svg = (out / "clusters.svg").read_text(encoding="utf-8")
    assert all(cluster["medoid"] in svg for cluster in data["clusters"])  # medoid text kept as text
    assert "labels:" in (out / "clusters.yml").read_text(encoding="utf-8")
    cjk = cjk_fonts()
    stated = f"CJK font '{cjk[0]}'" if cjk else "no CJK font found here"
    assert stated in " ".join(result.output.split())  # the console says what the PNG can show


def test_clause_table_counts_distinct_clauses_and_purity():
    reports = [Report(id=str(i), text="", sections={"diagnosis": d}) for i, d in enumerate(
        ["1.两肺纹理增多 2.主动脉硬化", "两肺纹理增多，主动脉硬化。", "两肺纹理增多", "心影增大"])]
    table = collect_clauses(reports)
    assert table.counts["两肺纹理增多"] == 3 and table.reports["主动脉硬化"] == {"0", "1"}
    clauses = ["两肺纹理增多", "主动脉硬化", "心影增大"]
    reference = {"两肺纹理增多": Counter(ilm=3), "主动脉硬化": Counter(ao=2), "心影增大": Counter(hs=1)}
    # aorta and heart clauses in one cluster: 3 + 2 of the 6 occurrences carry their cluster's majority label
    merged = Clustering(clauses, np.array([0, 1, 1]), np.array([0, 1]), 0.0)
    assert purity(merged, reference) == 5 / 6
    assert purity(Clustering(clauses, np.array([0, 1, 2]), np.array([0, 1, 2]), 0.0), reference) == 1.0


def test_cluster_mapping_labels_reports_through_its_label_set(tmp_path):
    source = tmp_path / "r.csv"
    diagnoses = ["两肺纹理增多", "两肺纹理增粗", "两肺纹理增多、增粗", "主动脉硬化", "主动脉结钙化", "心肺未见异常",
                 "胸部未见明显异常", "心影增大", "心脏增大"] * 3
    with open(source, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "diagnosis"])
        writer.writerows([[f"r{i}", d] for i, d in enumerate(diagnoses)])
    out = tmp_path / "clusters"
    result = CliRunner().invoke(app, ["cluster", str(source), "--lang", "zh", "-k", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    label_set = (out / "labelset.yml").read_text(encoding="utf-8")
    assert "mapping: clusters.yml" in label_set and "increased_lung_marking" in label_set
    mined = tmp_path / "mined"
    result = CliRunner().invoke(app, ["mine", str(source), "--lang", "zh", "--labels", str(out / "labelset.yml"),
                                      "--out", str(mined)])
    assert result.exit_code == 0, result.output
    rows = {r["id"]: r for r in csv.DictReader(open(mined / "labels.csv", encoding="utf-8"))}
    assert rows["r0"]["increased_lung_marking"] == "1" and rows["r0"]["normal"] == "0"
    assert rows["r5"]["normal"] == "1"
    # a mapping naming a label its label set lacks is a user error, not a crash
    (out / "fewer.yml").write_text(label_set.replace("  - {name: increased_lung_marking}\n", ""), encoding="utf-8")
    result = CliRunner().invoke(app, ["mine", str(source), "--lang", "zh", "--labels", str(out / "fewer.yml"),
                                      "--out", str(mined)])
    assert result.exit_code != 0 and "increased_lung_marking" in result.output


def test_rare_clauses_join_their_nearest_medoid(tmp_path):
    source = tmp_path / "r.csv"
    rows = ["两肺纹理增多"] * 5 + ["主动脉硬化"] * 4 + ["心影增大"] * 3
    rows += ["两肺纹理增多增粗", "主动脉硬化改变", "心影明显增大"]  # rare: left out of the distance matrix
    with open(source, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "diagnosis"])
        writer.writerows([[str(i), d] for i, d in enumerate(rows)])
    out = tmp_path / "clusters"
    result = CliRunner().invoke(app, ["cluster", str(source), "--lang", "zh", "-k", "3", "--max-distinct", "4",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "clusters.json").read_text())
    assert data["distinct_clauses"] == 6 and data["clustered_distinct_clauses"] == 4
    members = {c["medoid"]: {m["clause"] for m in c["top_members"]} for c in data["clusters"]}
    assert members == {"两肺纹理增多": {"两肺纹理增多", "两肺纹理增多增粗"},
                       "主动脉硬化": {"主动脉硬化", "主动脉硬化改变"}, "心影增大": {"心影增大", "心影明显增大"}}
    bad = CliRunner().invoke(app, ["cluster", str(source), "--lang", "zh", "--k-range", "five", "--out", str(out)])
    assert bad.exit_code == 2 and "MIN-MAX" in bad.output
