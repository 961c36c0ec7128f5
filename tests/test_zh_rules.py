"""Consistency checks of the Chinese rule files."""

import re
import shutil

import pytest

from cxrlabel.errors import UserError
from cxrlabel.lint import lint_rules
from cxrlabel.resources import rules_dir
from cxrlabel.zh.rulecheck import check_mapping, check_rules
from cxrlabel.zh.text import text_rules


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


def test_a_typo_pattern_that_is_no_regular_expression_is_a_file_line_problem(tmp_path):
    shutil.copytree(rules_dir(), tmp_path / "rules")
    normalize = tmp_path / "rules" / "zh" / "normalize.yml"
    text = normalize.read_text(encoding="utf-8").replace("- [嗝, 膈]", "- ['[嗝', 膈]")
    normalize.write_text(text, encoding="utf-8")
    line = text.splitlines().index("  - ['[嗝', 膈]") + 1
    expected = f"{normalize}:{line}: typo_patterns[1][0]: bad regex '[嗝'"
    assert [problem for problem in lint_rules(tmp_path / "rules") if "[嗝" in problem][0].startswith(expected)
    with pytest.raises(UserError, match=re.escape(expected)):
        text_rules(normalize.parent)
