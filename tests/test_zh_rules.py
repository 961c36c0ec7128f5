"""Consistency checks of the Chinese rule files."""

import shutil

from cxrlabel.resources import rules_path
from cxrlabel.zh.rulecheck import check_mapping, check_rules


def test_shipped_chinese_rules_are_consistent():
    assert check_rules() == []


def test_mapping_problems_are_reported(tmp_path):
    mapping = tmp_path / "mapping.yml"
    mapping.write_text(
        "max_distance: 0.2\nstrip_words: [左侧, 右侧]\n"
        "labels:\n  pleural_effusion: [胸腔积液, 左侧]\n  pleural_thickening: [右侧胸腔积液]\n  nodule: [结节]\n"
        "ignore: [胸腔积液]\n",
        encoding="utf-8")
    problems = "\n".join(check_mapping(mapping))
    assert "'nodule' is not in label set dong10" in problems
    assert "'左侧' (pleural_effusion) is empty" in problems
    assert "'右侧胸腔积液' is both pleural_effusion and pleural_thickening" in problems
    assert "'胸腔积液' is both pleural_effusion and ignore" in problems


def test_a_typo_pattern_that_is_no_regular_expression_is_reported(tmp_path):
    shutil.copytree(rules_path("zh"), tmp_path / "zh")
    normalize = tmp_path / "zh" / "normalize.yml"
    normalize.write_text(normalize.read_text(encoding="utf-8").replace("- [嗝, 膈]", "- ['[嗝', 膈]"), encoding="utf-8")
    assert any("typo pattern '[嗝'" in problem for problem in check_rules(tmp_path))
