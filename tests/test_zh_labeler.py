"""Chinese pipeline: text normalisation, cues, dong10 assignment, region templates, GBK input."""

import csv
import json

from typer.testing import CliRunner

from cxrlabel.cli import app
from cxrlabel.labelsets import load_label_set
from cxrlabel.types import Report, State
from cxrlabel.zh.cues import clause_state
from cxrlabel.zh.labeler import ChineseLabeler
from cxrlabel.zh.regions import decide_regions
from cxrlabel.zh.text import find_sections, normalise, split_clauses, split_items, split_sentences, strip_variables


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


def test_traditional_script_reports():
    text = ("影像所見：兩側胸廓對稱。雙肺紋理增多。心影增大。\n"
            "診斷：1.兩肺紋理增多 2.慢性支氣管炎、肺氣腫 3.未見胸腔積液")
    assert normalise("肋膈角變鈍") == "肋膈角变钝"
    labeler = ChineseLabeler(load_label_set("dong10"))
    labels = labeler.label_batch([Report("r", text)])[0].labels
    assert positives(labels) == {"increased_lung_marking", "bronchitis", "emphysema"}
    assert labels["pleural_effusion"] == State.NEGATIVE


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


def test_blunted_angle_beside_an_uncertain_effusion_is_still_blunted():
    labels = dong("右肋膈角变钝，胸腔少量积液待排")
    assert labels["costophrenic_angle_blunting"] == State.POSITIVE
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


def positives(labels):
    return {name for name, state in labels.items() if state == State.POSITIVE}


def test_numbering_styles_and_full_stops_split_sentences():
    for text in ("①双肺纹理增多②主动脉硬化", "一、双肺纹理增多。二、主动脉硬化", "1）双肺纹理增多 2）主动脉硬化",
                 "(1)双肺纹理增多(2)主动脉硬化", "双肺纹理增多.主动脉硬化.", "双肺纹理增多 主动脉硬化"):
        assert [strip_variables(c) for s in split_sentences(normalise(text)) for c in split_clauses(s)] == [
            "双肺纹理增多", "主动脉硬化"], text
    # a space after punctuation breaks too, so one clause's cue does not reach the next
    # and a bracketed remark is a clause of its own
    assert split_clauses(normalise("肺气肿？ 心影增大（左室为主） 心影不大")) == [
        "肺气肿?", "心影增大", "左室为主", "心影不大"]
    assert split_clauses("结节约0.5 cm大小") == ["结节大小"]  # not between a number and its unit
    # a decimal point is not a full stop, and the number itself is a variable
    assert split_clauses(normalise("心影增大，心胸比约0.62。")) == ["心影增大", "心胸比"]


def test_several_findings_in_one_clause_and_continuation_items():
    assert positives(dong("心影增大伴主动脉硬化")) == {"increased_heart_shadow", "aortosclerosis"}
    assert positives(dong("两肺纹理增多、增粗及主动脉硬化")) == {"increased_lung_marking", "aortosclerosis"}
    # "增宽" after 、 continues the aorta item; it does not name the heart ("心影增宽")
    assert positives(dong("主动脉迂曲、增宽")) == {"aortosclerosis"}
    assert positives(dong("主动脉迂曲，增宽")) == {"aortosclerosis"}
    assert positives(dong("心影增大，胸水")) == {"increased_heart_shadow", "pleural_effusion"}  # a whole short term
    assert positives(dong("双肺纹理增多、模糊")) == {"increased_lung_marking"}


def test_terms_cut_at_the_edge_or_other_diseases_are_not_labels():
    # each shares most characters with an exemplar (支气管炎, 胸腔积液, 积液, 间质性改变) but is another disease
    for text in ("支气管扩张", "支气管肺炎", "左侧胸腔积气", "心包积液", "间质性肺炎"):
        assert positives(dong(text)) == {"normal"}, text


def test_synonyms_typos_and_enumerations():
    assert positives(dong("主动脉粥样硬化")) == {"aortosclerosis"}
    assert positives(dong("左心室增大")) == {"increased_heart_shadow"}
    assert positives(dong("右隔角变钝")) == {"costophrenic_angle_blunting"}
    assert positives(dong("两肺纹里增多，主动脉节钙化")) == {"increased_lung_marking", "aortosclerosis"}
    # chronic bronchitis joined to emphysema is both diagnoses, however it is joined
    assert positives(dong("慢支并肺气肿")) == {"bronchitis", "emphysema"}
    assert positives(dong("慢性支气管炎伴肺气肿")) == {"bronchitis", "emphysema"}
    assert positives(dong("两肺纹理增多、慢支、肺气肿")) == {"increased_lung_marking", "bronchitis", "emphysema"}
    assert positives(dong("慢性支气管炎，肺气肿")) == {"bronchitis", "emphysema"}


def test_negation_scope_and_hedges():
    assert positives(dong("肺气肿不明显；两肺纹理增多")) == {"increased_lung_marking"}
    assert positives(dong("两肺纹理增多未见胸腔积液")) == {"increased_lung_marking"}
    assert dong("心影未见增大")["increased_heart_shadow"] == State.NEGATIVE
    assert dong("胸腔积液（－）")["pleural_effusion"] == State.NEGATIVE
    assert dong("疑支气管炎")["bronchitis"] == State.UNCERTAIN
    assert dong("不排除支气管炎")["bronchitis"] == State.UNCERTAIN
    # a recommendation does not hedge the finding before it
    assert dong("心影增大请结合临床")["increased_heart_shadow"] == State.POSITIVE
    # an uncertain effusion does not hedge the blunted angle on either side of it
    assert dong("右侧胸腔积液待排，右侧肋膈角变钝")["costophrenic_angle_blunting"] == State.POSITIVE
    assert dong("左侧肋膈角变钝，考虑少量胸腔积液")["costophrenic_angle_blunting"] == State.POSITIVE


def test_regions_route_by_subject_and_read_synonyms():
    assert positives(regions("双肺纹理略增多，未见明显实变。")) == set()  # 双/略 = 两/稍: the normal template
    assert positives(regions("心影呈主动脉型。")) == {"heart"}  # the subject (心影) decides, not the longer cue
    assert positives(regions("两肺纹理增多未见实变影。")) == {"lungs"}
    # statements on two regions joined in one clause are split; a negation covers the whole list
    assert positives(regions("心影增大并主动脉结钙化。")) == {"heart", "aorta"}
    assert positives(regions("未见心影增大及胸腔积液。")) == set()
    # one character from a normal template, but naming an abnormality the template lacks
    assert positives(regions("主动脉结增大。")) == {"aorta"}
    assert positives(regions("两肺野透过度增高。")) == {"lungs"}  # 透过度 = 透光度
    assert positives(regions("胸廓呈桶状。两膈面低平，肋膈角锐利。")) == {"thorax", "diaphragm_costophrenic"}
    assert positives(regions("两隔面光整,两肋隔角锐利.")) == set()
    assert positives(regions("右侧第五肋骨骨折，胸廓对称。")) == {"thorax"}
    mentions = ChineseLabeler(load_label_set("regions5")).label_batch(
        [Report(id="r", text="", sections={"findings": "心影增大。"})])[0].mentions
    assert mentions[0].finding == "heart" and mentions[0].sentence == "心影增大" and mentions[0].rule_id


def test_txt_reports_with_headers_in_utf8_and_gbk(tmp_path):
    folder = tmp_path / "reports"
    folder.mkdir()
    text = "影像所见：两侧胸廓对称。两肺纹理增粗。心影不大。\n诊断意见：1、两肺纹理增粗 2、主动脉硬化"
    (folder / "p1.txt").write_text(text, encoding="utf-8")
    (folder / "p2.txt").write_bytes(text.replace("主动脉硬化", "心影增大").encode("gbk"))
    (folder / "p3.txt").write_bytes(b"\xff\xfe\xfd\x80\x81")  # decodes to no Chinese at all
    (folder / "p4.txt").write_bytes(text.encode("utf-8")[:40] + b"\xff\xfe" + text.encode("utf-8")[40:])
    out = tmp_path / "out"
    for labels in ("dong10", "regions5"):
        result = CliRunner().invoke(app, ["mine", str(folder), "--lang", "zh", "--labels", labels, "--out",
                                          str(out / labels)])
        assert result.exit_code == 0, result.output
    rows = {r["id"]: r for r in csv.DictReader(open(out / "dong10" / "labels.csv", encoding="utf-8"))}
    assert rows["p1"]["aortosclerosis"] == "1" and rows["p1"]["increased_heart_shadow"] in ("", "0")
    assert rows["p2"]["increased_heart_shadow"] == "1" and rows["p2"]["increased_lung_marking"] == "1"
    regions_rows = {r["id"]: r for r in csv.DictReader(open(out / "regions5" / "labels.csv", encoding="utf-8"))}
    assert regions_rows["p1"]["lungs"] == "1" and regions_rows["p1"]["heart"] == "0"
    errors = {r["id"]: r["reason"] for r in csv.DictReader(open(out / "dong10" / "errors.csv", encoding="utf-8"))}
    # bytes that decode to no Chinese are refused by the reader (undecodable) or the labeler (no Chinese text)
    assert set(errors) == {"p3", "p4"} and ("undecodable" in errors["p3"] or "Chinese" in errors["p3"])


def test_section_headers_in_several_styles():
    for text in ("影像所见：两侧胸廓对称。心影增大。诊断：心影增大",
                 "【影像表现】两侧胸廓对称。心影增大。【印象】心影增大",
                 "检查所见\n两侧胸廓对称。心影增大。\n诊断意见\n心影增大"):
        assert find_sections(Report("r", text)) == {"findings": "两侧胸廓对称。心影增大", "diagnosis": "心影增大"}, text
    # no header: a short text is a diagnosis, a long one findings
    assert find_sections(Report("r", "两肺纹理增多")) == {"diagnosis": "两肺纹理增多"}
