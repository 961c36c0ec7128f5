"""Every rule's own examples (rules/en/rules/*.yml `examples:`) run through the real labeler (spaCy parser): the
mention of the named finding must be decided by that rule, with the stated state. `cxrlabel rules lint` checks
that every rule has at least one example."""

import shutil

import pytest

from cxrlabel.en.rules import load_rule_file, load_rules
from cxrlabel.errors import UserError
from cxrlabel.lint import lint_rules
from cxrlabel.resources import rules_dir

CASES = [(rule.id, example) for rule in load_rules().rules for example in rule.examples]


@pytest.fixture(scope="module")
def labeler(en_labeler):
    return en_labeler  # the session's chestxray14 spaCy labeler (conftest.py), loaded once


def test_every_rule_has_examples():
    assert all(rule.examples for rule in load_rules().rules)
    assert not [problem for problem in lint_rules() if "example" in problem]


@pytest.mark.parametrize(("rule_id", "example"), CASES, ids=[f"{rid}:{ex.text[:40]}" for rid, ex in CASES])
def test_rule_decides_its_example(labeler, rule_id, example):
    (decisions,) = labeler.analyse_sentences([example.text])
    found = [d for d in decisions if d.match.finding == example.finding]
    assert found, f"no {example.finding} mention in {example.text!r}"
    assert [(d.rule_id, d.state) for d in found][:1] == [(rule_id, example.state)], example.text


def test_lint_names_a_rule_without_examples(tmp_path):
    copy = tmp_path / "rules"
    shutil.copytree(rules_dir(), copy)
    path = copy / "en" / "rules" / "0_affirmation.yml"
    text = path.read_text()
    start = text.index("    examples:")
    path.write_text(text[:start] + text[text.index("    path:", start):])
    assert [p for p in lint_rules(copy) if "no examples" in p] == [
        f"{path}:5: rule 'pos.no_change_in' has no examples (text, finding, state it decides)"]


def test_bad_example_is_a_file_line_error(tmp_path):
    path = tmp_path / "r.yml"
    path.write_text("stage: negation\nrules:\n  - id: neg.x\n    examples:\n"
                    "      - {text: No pneumothorax., finding: pneumothorax, state: absent}\n"
                    "    path:\n      - {edge: neg, dir: out}\n")
    with pytest.raises(UserError, match=rf"^{path}:5: rules\[0\].examples\[0\].state: Input should be 'positive'"):
        load_rule_file(path)


def test_cue_families_expand_and_unknown_family_is_an_error(tmp_path):
    (tmp_path / "en" / "rules").mkdir(parents=True)
    (tmp_path / "en" / "cue_families.yml").write_text("families:\n  negation: 'no|not'\n")
    path = tmp_path / "en" / "rules" / "r.yml"
    path.write_text("stage: negation\nrules:\n  - id: neg.x\n    examples:\n"
                    "      - {text: No pneumothorax., finding: pneumothorax, state: negative}\n"
                    "    path:\n      - {edge: neg, dir: out, node: {lemma: '@negation|never'}}\n")
    (rule,) = load_rule_file(path)
    (step,) = rule.paths[0]
    assert [step.node({"lemma": word}) for word in ("no", "not", "never", "nothing")] == [True, True, True, False]
    bad = path.with_name("r2.yml")  # a fresh name: rule YAML is parsed once per process and path
    bad.write_text(path.read_text().replace("@negation", "@negations"))
    with pytest.raises(UserError, match=rf"^{bad}:7: rules\[0\].path\[0\].node.lemma: unknown cue family @negations"):
        load_rule_file(bad)
