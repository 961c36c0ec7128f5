"""Chinese pipeline: text normalisation, cues, dong10 assignment, region templates, clustering, GBK input."""

import csv
import json

import numpy as np
from typer.testing import CliRunner

from cxrlabel.cli import app
from cxrlabel.labelsets import load_label_set
from cxrlabel.types import Report, State
from cxrlabel.zh.cluster import cluster_clauses, collect_clauses, distance_matrix
from cxrlabel.zh.cues import clause_state
from cxrlabel.zh.labeler import ChineseLabeler
from cxrlabel.zh.regions import decide_regions
from cxrlabel.zh.text import normalise, split_clauses, split_items, split_sentences, strip_variables


def dong(diagnosis):
    labeler = ChineseLabeler(load_label_set("dong10"))
    return labeler.label_batch([Report(id="r", text="", sections={"diagnosis": diagnosis})])[0].labels


def regions(findings):
    labeler = ChineseLabeler(load_label_set("regions5"))
    return labeler.label_batch([Report(id="r", text="", sections={"findings": findings})])[0].labels


def test_clause_split_handles_numbering_and_punctuation():
    text = normalise("1.两肺纹理增多、增粗；2、主动脉硬化（3）心影增大。请结合临床")
    assert split_sentences(text) == ["两肺纹理增多、增粗", "主动脉硬化", "心影增大", "请结合临床"]
    assert split_clauses(normalise("两膈面光整，右肋膈角变钝")) == ["两膈面光整", "右肋膈角变钝"]
    assert split_items("慢性支气管炎、肺气肿") == ["慢性支气管炎", "肺气肿"]


def test_digits_and_measurements_are_stripped():
    assert strip_variables("心影饱满，心胸比约0.55") == "心影饱满，心胸比"
    assert strip_variables("右肺结节约1.5cm") == "右肺结节"
    assert strip_variables("右侧第6肋骨陈旧性骨折") == "右侧第肋骨陈旧性骨折"


def test_typos_and_full_width_are_normalised():
    assert normalise("左肋隔角变钝，两隔面光整") == "左肋膈角变钝,两膈面光整"
    assert normalise("主动脉节钙化；") == "主动脉结钙化;"


def test_negation_and_uncertainty_cues():
    assert clause_state("未见胸腔积液")[0] == State.NEGATIVE
    assert clause_state("心影不大")[0] == State.NEGATIVE
    assert clause_state("不除外支气管炎")[0] == State.UNCERTAIN
    assert clause_state("胸腔少量积液待排")[0] == State.UNCERTAIN
    assert clause_state("两侧胸廓不对称")[0] == State.POSITIVE  # 不对称 is a finding, not a negation
    assert clause_state("右肋膈角变钝")[0] == State.POSITIVE


def test_dong10_labels_from_the_diagnosis():
    labels = dong("1.两肺纹理增多、增粗 2.主动脉硬化 3.未见胸腔积液")
    assert labels["increased_lung_marking"] == State.POSITIVE
    assert labels["aortosclerosis"] == State.POSITIVE
    assert labels["pleural_effusion"] == State.NEGATIVE
    assert labels["normal"] == State.NEGATIVE
    assert dong("心肺膈未见明显异常。")["normal"] == State.POSITIVE
    uncertain = dong("不除外支气管炎")
    assert uncertain["bronchitis"] == State.UNCERTAIN and uncertain["normal"] == State.POSITIVE
    assert dong("左肋隔角变钝")["costophrenic_angle_blunting"] == State.POSITIVE  # typo variant


def test_sign_of_an_uncertain_diagnosis_is_uncertain():
    labels = dong("右肋膈角变钝，胸腔少量积液待排")
    assert labels["costophrenic_angle_blunting"] == State.UNCERTAIN
    assert labels["pleural_effusion"] == State.UNCERTAIN


def test_region_routing_and_templates():
    decisions = decide_regions(normalise("两侧胸廓对称。两肺纹理稍增多，未见明显异常实变影。主动脉结钙化。心影不大。"
                                         "两膈面光整，右肋膈角变钝。"))
    routed = {(d.region, d.clause) for d in decisions}
    assert ("diaphragm_costophrenic", "右肋膈角变钝") in routed
    assert ("aorta", "主动脉结钙化") in routed
    labels = regions("两侧胸廓对称。两肺纹理稍增多，未见明显异常实变影。主动脉结钙化。心影不大。"
                     "两膈面光整，右肋膈角变钝。")
    assert labels["lungs"] == State.NEGATIVE  # the normal template says 稍增多
    assert labels["aorta"] == State.POSITIVE
    assert labels["heart"] == State.NEGATIVE
    assert labels["diaphragm_costophrenic"] == State.POSITIVE
    assert regions("两肺纹理增多。")["lungs"] == State.POSITIVE


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


def test_mine_reads_gbk_csv_and_keeps_bad_rows(tmp_path):
    source = tmp_path / "reports.csv"
    with open(source, "w", encoding="gb18030", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "影像所见", "诊断"])
        writer.writerow(["a1", "两侧胸廓对称。心影增大。", "心影增大"])
        writer.writerow(["a2", "", ""])
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["mine", str(source), "--lang", "zh", "--labels", "dong10", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(open(out / "labels.csv", encoding="utf-8")))
    assert rows[0]["id"] == "a1" and rows[0]["increased_heart_shadow"] == "1"
    errors = list(csv.DictReader(open(out / "errors.csv", encoding="utf-8")))
    assert errors[0]["id"] == "a2" and "empty" in errors[0]["reason"]
    assert json.loads((out / "summary.json").read_text())["reports_failed"] == 1


def test_cluster_command_writes_outputs(tmp_path):
    source = tmp_path / "r.csv"
    rows = ["两肺纹理增多", "两肺纹理增粗", "主动脉硬化", "主动脉结钙化", "心影增大", "心脏增大"] * 2
    with open(source, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "diagnosis"])
        writer.writerows([[str(i), d] for i, d in enumerate(rows)])
    out = tmp_path / "clusters"
    result = CliRunner().invoke(app, ["cluster", str(source), "--lang", "zh", "-k", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "clusters.json").read_text())
    assert data["k"] == 3 and sum(c["size_clauses"] for c in data["clusters"]) == 12
    assert (out / "clusters.png").stat().st_size > 1000
    assert "labels:" in (out / "clusters.yml").read_text(encoding="utf-8")
