"""The rule-file schema: the loaders and `cxrlabel rules lint` give the same file:line verdict on a bad file of
every kind, a label set written by `cxrlabel cluster` passes the lint, and the model defaults are the shipped ones."""

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from cxrlabel.en.rules import load_rule_file, load_rules
from cxrlabel.en.sections import section_rules
from cxrlabel.en.vocabulary import load_finding
from cxrlabel.errors import UserError
from cxrlabel.labelsets import available_label_sets, load_label_set
from cxrlabel.lint import lint_rules
from cxrlabel.resources import check_rules_folder, read_yaml, rules_dir, rules_path
from cxrlabel.schema import RuleSettings, load
from cxrlabel.zh.cues import load_cues
from cxrlabel.zh.dong import load_exemplars
from cxrlabel.zh.regions import load_regions
from cxrlabel.zh.text import text_rules
from tests.test_zh_cluster import run_cluster


@dataclass(frozen=True)
class Kind:
    """A kind of rule file: where it is, how a run loads it, and two faults as (line regex, new line, message)."""

    file: str
    loader: Callable[[Path], object]  # called with the copied rules folder
    wrong_type: tuple[str, str, str]
    missing: tuple[str, str | None, str] | None  # None: every key of the kind is optional


KINDS = {
    "finding": Kind("en/findings/edema.yml", lambda root: load_finding(root / "en/findings/edema.yml"),
                    (r"name: edema", "name: [edema]", "name: Input should be a valid string"),
                    (r"name: edema", None, "missing key 'name'")),
    "rule file": Kind("en/rules/2_negation.yml", lambda root: load_rule_file(root / "en/rules/2_negation.yml"),
                      (r"stage: negation", "stage: [negation]", "stage: Input should be 'affirmation'"),
                      (r"stage: negation", None, "missing key 'stage'")),
    "cue families": Kind("en/cue_families.yml", lambda root: load_rules(root / "en/rules"),
                         (r"  negation: .*", "  negation: [no]", "families.negation: Input should be a valid string"),
                         (r"families:", "family:", "missing key 'families'")),
    "settings": Kind("en/settings.yml", lambda root: load_rules(root / "en/rules"),
                     (r"scope_depth: 3", "scope_depth: three", "scope_depth: Input should be a valid integer"),
                     None),
    "en sections": Kind("en/sections.yml", lambda root: section_rules(root / "en/sections.yml"),
                        (r"label_sections: .*", "label_sections: findings",
                         "label_sections: Input should be a valid list"),
                        (r"label_sections: .*", None, "missing key 'label_sections'")),
    "label set": Kind("labelsets/chestxray14.yml", lambda root: load_label_set(str(root / "labelsets/chestxray14.yml")),
                      (r"lang: en", "lang: [en]", "lang: Input should be a valid string"),
                      (r"lang: en", None, "missing key 'lang'")),
    "zh clusters": Kind("zh/clusters.yml", lambda root: load_exemplars(root / "zh/clusters.yml"),
                        (r"max_distance: 0.2", "max_distance: far", "max_distance: Input should be a valid number"),
                        (r"max_distance: 0.2", None, "missing key 'max_distance'")),
    "zh negation": Kind("zh/negation.yml", lambda root: load_cues(root / "zh/negation.yml"),
                        (r"pre_negation: .*", "pre_negation: 未见", "pre_negation: Input should be a valid list"),
                        (r"pre_negation: .*", None, "missing key 'pre_negation'")),
    "zh normalize": Kind("zh/normalize.yml", lambda root: text_rules(root / "zh"),
                         (r"item_separators: .*", "item_separators: [a]",
                          "item_separators: Input should be a valid string"),
                         (r"item_separators: .*", None, "missing key 'item_separators'")),
    "zh regions": Kind("zh/regions.yml", lambda root: load_regions(root / "zh/regions.yml"),
                       (r"max_distance: 0.2", "max_distance: far", "max_distance: Input should be a valid number"),
                       (r"max_distance: 0.2", None, "missing key 'max_distance'")),
    "zh sections": Kind("zh/sections.yml", lambda root: text_rules(root / "zh"),
                        (r"  findings: .*", "  findings: 影像所见", "headers.findings: Input should be a valid list"),
                        (r"headers:", "header:", "missing key 'headers'")),
}
CASES = [(name, fault) for name, kind in KINDS.items() for fault in ("unknown key", "wrong type", "missing key")
         if fault != "missing key" or kind.missing is not None]


def break_file(path: Path, fault: str, kind: Kind) -> tuple[int, str]:
    """Write the fault into the file; the line and the words the problem must name."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if fault == "unknown key":
        path.write_text("\n".join([*lines, "colour: red"]) + "\n", encoding="utf-8")
        return len(lines) + 1, "unknown key 'colour' (allowed: "
    pattern, new, message = kind.wrong_type if fault == "wrong type" else kind.missing
    index = next(i for i, line in enumerate(lines) if re.fullmatch(pattern, line))
    lines[index:index + 1] = [] if new is None else [new]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    top_level_missing = fault == "missing key"  # every missing key of these cases is a top-level one
    return (1 if top_level_missing else index + 1), message


@pytest.mark.parametrize(("name", "fault"), CASES, ids=[f"{name}-{fault}" for name, fault in CASES])
def test_lint_and_loader_give_the_same_verdict(tmp_path, name, fault):
    kind = KINDS[name]
    root = tmp_path / "rules"
    shutil.copytree(rules_dir(), root)
    path = root / kind.file
    line, words = break_file(path, fault, kind)
    problems = [problem for problem in lint_rules(root) if problem.startswith(f"{path}:")]
    assert problems, f"lint found nothing wrong in {path}"
    assert problems[0].startswith(f"{path}:{line}: ") and words in problems[0], problems[0]
    with pytest.raises(UserError) as raised:
        kind.loader(root)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(problems[0])  # the same first problem, word for word


def test_a_nested_unknown_key_names_its_line_and_the_keys_allowed_there(tmp_path):
    path = tmp_path / "mine.yml"
    path.write_text("name: mine\nlang: en\nlabels:\n  - {name: Effusion, findings: [pleural_effusion]}\n"
                    "  - name: Edema\n    findings: [edema]\n    colour: red\n", encoding="utf-8")
    with pytest.raises(UserError, match=re.escape(f"{path}:7: labels[1]: unknown key 'colour' "
                                                  "(allowed: name, findings, description, derived, aliases)")):
        load_label_set(str(path))


def test_a_duplicate_label_is_named_at_its_line(tmp_path):
    path = tmp_path / "mine.yml"
    path.write_text("name: mine\nlang: en\nlabels:\n  - {name: Edema, findings: [edema]}\n"
                    "  - {name: Edema, findings: [pleural_effusion]}\n", encoding="utf-8")
    with pytest.raises(UserError, match=re.escape(f"{path}:5: labels[1].name: duplicate label 'Edema'")):
        load_label_set(str(path))


def test_the_shipped_rules_pass_the_lint():
    assert lint_rules() == []


def test_the_settings_defaults_are_the_shipped_settings(tmp_path):
    """One source of defaults: a rules folder without settings.yml reaches as far as the shipped one."""
    assert load(RuleSettings, rules_path("en", "settings.yml")) == RuleSettings()
    shutil.copytree(rules_path("en", "rules"), tmp_path / "en" / "rules")
    shutil.copy(rules_path("en", "cue_families.yml"), tmp_path / "en")
    bare, shipped = load_rules(tmp_path / "en" / "rules"), load_rules()
    assert (bare.conj_scope, bare.list_scope, bare.scope_depth) == \
        (shipped.conj_scope, shipped.list_scope, shipped.scope_depth)
    assert [rule.id for rule in bare.rules] == [rule.id for rule in shipped.rules]


@pytest.mark.parametrize(("lang", "method", "written", "expected"), [
    ("en", "", "", ("positive", "uncertain")),
    ("zh", "method: regions\n", "", ("positive",)),
    ("en", "", "normal_ruled_out_by: [positive]\n", ("positive",)),
    ("zh", "method: regions\n", "normal_ruled_out_by: [positive, uncertain]\n", ("positive", "uncertain")),
])
def test_normal_ruled_out_by_defaults_by_language(tmp_path, lang, method, written, expected):
    path = tmp_path / "mine.yml"
    label = "{name: lungs}" if lang == "zh" else "{name: Edema, findings: [edema]}"
    path.write_text(f"name: mine\nlang: {lang}\n{method}{written}labels:\n  - {label}\n", encoding="utf-8")
    assert load_label_set(str(path)).normal_ruled_out_by == expected


def test_normal_ruled_out_by_takes_states_that_can_rule_out(tmp_path):
    path = tmp_path / "mine.yml"
    path.write_text("name: mine\nlang: en\nnormal_ruled_out_by:\n  - positive\n  - negative\nlabels:\n"
                    "  - {name: Edema, findings: [edema]}\n", encoding="utf-8")
    with pytest.raises(UserError, match=re.escape(f"{path}:5: normal_ruled_out_by[1]: Input should be 'positive' "
                                                  "or 'uncertain', not 'negative'")):
        load_label_set(str(path))
    empty = tmp_path / "empty.yml"
    empty.write_text("name: mine\nlang: en\nnormal_ruled_out_by: []\nlabels:\n  - {name: Edema, findings: [edema]}\n",
                     encoding="utf-8")
    with pytest.raises(UserError, match=re.escape(f"{empty}:3: normal_ruled_out_by: name the states")):
        load_label_set(str(empty))


def test_a_label_set_written_by_cluster_passes_the_lint(tmp_path, monkeypatch):
    result, out = run_cluster(tmp_path, ["两肺纹理增多", "两肺纹理增粗", "主动脉硬化", "主动脉结钙化", "心影增大",
                                         "心脏增大", "心肺未见异常"] * 2)
    assert result.exit_code == 0, result.output
    assert read_yaml(out / "labelset.yml").data["mapping"] == "clusters.yml"
    for copy in ("good", "bad"):
        shutil.copytree(rules_dir(), tmp_path / copy)
        shutil.copy(out / "labelset.yml", tmp_path / copy / "labelsets" / "mine.yml")
        shutil.copy(out / "clusters.yml", tmp_path / copy / "labelsets" / "clusters.yml")  # beside its label set
    assert lint_rules(tmp_path / "good") == []
    monkeypatch.setenv("CXRLABEL_RULES", str(tmp_path / "good"))  # checked as a whole, like a run would
    assert available_label_sets() == ["chestxray14", "chexpert", "dong10", "mine", "regions5"]  # the mapping is none
    monkeypatch.delenv("CXRLABEL_RULES")
    # the lint reads the mapping as a mapping: a fault in it is named there
    mapping = tmp_path / "bad" / "labelsets" / "clusters.yml"
    mapping.write_text(mapping.read_text(encoding="utf-8").replace("max_distance:", "max_distanse:"),
                       encoding="utf-8")
    assert any(problem.startswith(f"{mapping}:") and "unknown key 'max_distanse'" in problem
               for problem in lint_rules(tmp_path / "bad"))


def test_gold_box_aliases_are_part_of_a_label_set(tmp_path):
    """cxrtrain heatmap reads `aliases` (top level and per label) from a label set: they load, and an alias to no
    label of the set is named at its line."""
    text = rules_path("labelsets", "chestxray14.yml").read_text(encoding="utf-8")
    text = text.replace("{name: Mass, findings: [mass]}", "{name: Mass, findings: [mass], aliases: [Tumour]}")
    good = tmp_path / "good.yml"
    good.write_text(text + "aliases: {Opacity: Consolidation}\n", encoding="utf-8")
    assert load_label_set(str(good)).names == load_label_set("chestxray14").names
    bad = tmp_path / "bad.yml"
    bad.write_text(text + "aliases:\n  Opacity: Consolidation\n  Tumor: Tumour\n", encoding="utf-8")
    line = len(text.splitlines()) + 3
    with pytest.raises(UserError, match=re.escape(f"{bad}:{line}: aliases.Tumor: alias 'Tumor' names no label")):
        load_label_set(str(bad))


def test_a_rules_folder_with_the_old_settings_and_cue_file_names_is_told_where_they_went(tmp_path):
    root = tmp_path / "rules"
    shutil.copytree(rules_dir(), root)
    (root / "en" / "settings.yml").rename(root / "en" / "rules" / "settings.yaml")
    (root / "en" / "cue_families.yml").rename(root / "en" / "rules" / "cues.yaml")
    old = root / "en" / "rules" / "cues.yaml"
    expected = f"{old}:1: this file is now read from {root / 'en' / 'cue_families.yml'}; move it there"
    assert expected in lint_rules(root)
    with pytest.raises(UserError, match=re.escape(expected)):
        check_rules_folder(root)
