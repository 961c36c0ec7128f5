"""Rule files: loading, the decisions they give on OpenI sentences, and compile errors with file:line."""

import pytest

from cxrlabel.en.rules import STAGES, load_rule_file, load_rules
from cxrlabel.errors import UserError
from cxrlabel.resources import rules_path
from cxrlabel.types import Report, State

RULE_FILES = sorted(rules_path("en", "rules").glob("*.yml"))


@pytest.mark.parametrize("path", RULE_FILES, ids=[p.name for p in RULE_FILES])
def test_rule_file_loads(path):
    rules = load_rule_file(path)
    assert rules
    for rule in rules:
        assert rule.stage in STAGES and rule.comment and rule.paths
        file_name, line = rule.source.rsplit(":", 1)
        assert file_name == str(path)
        assert f"id: {rule.id}" in path.read_text().splitlines()[int(line) - 1]


def test_rule_set_order_and_unique_ids():
    rules = load_rules().rules
    ids = [rule.id for rule in rules]
    assert len(ids) == len(set(ids))
    order = [list(STAGES).index(rule.stage) for rule in rules]
    assert order == sorted(order)
    # the published ChestX-ray8 patterns are expressed
    for rule_id in ("neg.modifier", "neg.without", "neg.clear_of", "neg.without_evidence", "neg.governor_no",
                    "unc.cannot_exclude", "unc.concern_for", "unc.modal_verb", "unc.difficult_to_exclude",
                    "unc.suggest_suspect"):
        assert rule_id in ids


# (sentence, vocabulary finding, expected state, rule id that decides) — OpenI-style wording
CASES = [
    ("No pneumothorax.", "pneumothorax", State.NEGATIVE, "neg.modifier"),
    ("There is no pneumothorax.", "pneumothorax", State.NEGATIVE, "neg.modifier"),
    ("No evidence of pneumothorax or effusion.", "pneumothorax", State.NEGATIVE, "neg.governor_no"),
    ("No evidence of pneumothorax or effusion.", "pleural_effusion", State.NEGATIVE, "neg.governor_no"),
    ("Lungs are clear without focal consolidation.", "consolidation", State.NEGATIVE, "neg.without"),
    ("The lungs are clear of focal airspace disease, pneumothorax, or pleural effusion.", "pleural_effusion",
     State.NEGATIVE, "neg.clear_of"),
    ("The lungs are normally inflated without evidence of focal airspace disease, pleural effusion, or "
     "pneumothorax.", "pneumothorax", State.NEGATIVE, "neg.without_evidence"),
    ("Negative for pneumothorax.", "pneumothorax", State.NEGATIVE, "neg.clear_of"),
    ("Pneumothorax is not seen.", "pneumothorax", State.NEGATIVE, "neg.predicate_not"),
    ("Pleural effusion has resolved.", "pleural_effusion", State.NEGATIVE, "neg.absent_predicate"),
    ("Pneumonia cannot be excluded.", "pneumonia", State.UNCERTAIN, "unc.cannot_exclude"),
    ("Difficult to exclude a small left pleural effusion.", "pleural_effusion", State.UNCERTAIN,
     "unc.difficult_to_exclude"),
    ("Opacity may represent atelectasis.", "atelectasis", State.UNCERTAIN, "unc.modal_verb"),
    ("Concern for pneumonia.", "pneumonia", State.UNCERTAIN, "unc.concern_for"),
    ("Findings suggesting pulmonary edema.", "edema", State.UNCERTAIN, "unc.suggest_suspect"),
    ("Possible pneumonia.", "pneumonia", State.UNCERTAIN, "unc.hedge_modifier"),
    ("There is a small right pleural effusion.", "pleural_effusion", State.POSITIVE, "default.positive"),
    ("Mild cardiomegaly.", "cardiomegaly", State.POSITIVE, "default.positive"),
    ("No change in the right pleural effusion.", "pleural_effusion", State.POSITIVE, "pos.no_change_in"),
    ("No pneumothorax but a small left pleural effusion.", "pleural_effusion", State.POSITIVE, "default.positive"),
    ("No pneumothorax but a small left pleural effusion.", "pneumothorax", State.NEGATIVE, "neg.modifier"),
]


@pytest.mark.parametrize(("sentence", "finding", "state", "rule_id"), CASES)
def test_sentence_decisions(en_labeler, sentence, finding, state, rule_id):
    result = en_labeler.label_batch([Report(id="r", text=sentence)])[0]
    decided = {(m.finding, m.state, m.rule_id) for m in result.mentions if m.finding == finding}
    assert decided == {(finding, state, rule_id)}


def write_rules(tmp_path, body):
    # a fresh name each time: rule YAML is parsed once per process and path
    path = tmp_path / f"rules_{len(list(tmp_path.iterdir()))}.yml"
    path.write_text("# test rules\nstage: negation\nrules:\n" + body)
    return path


GOOD = "  - id: neg.one\n    comment: No pneumothorax.\n    path:\n      - {edge: neg, dir: out}\n"


def test_unknown_rule_key_names_file_and_line(tmp_path):
    path = write_rules(tmp_path, GOOD + "  - id: neg.two\n    comment: x\n    pattern: []\n    path: []\n")
    with pytest.raises(UserError, match=rf"^{path}:10: rules\[1\]: unknown key 'pattern' \(allowed: id, comment"):
        load_rule_file(path)


def test_unknown_step_and_node_keys(tmp_path):
    path = write_rules(tmp_path, GOOD + "  - id: neg.two\n    path:\n      - {edge: neg, direction: out}\n")
    with pytest.raises(UserError, match=rf"^{path}:10: rules\[1\].path\[0\]: unknown key 'direction'"):
        load_rule_file(path)
    path = write_rules(tmp_path, "  - id: neg.two\n    path:\n      - {edge: neg, node: {lema: no}}\n")
    with pytest.raises(UserError, match=rf"^{path}:6: rules\[0\].path\[0\].node: unknown key 'lema'"):
        load_rule_file(path)


def test_bad_regex_names_file_and_line(tmp_path):
    path = write_rules(tmp_path, GOOD + GOOD.replace("neg.one", "neg.two").replace("edge: neg", "edge: 'prep_(of'"))
    with pytest.raises(UserError, match=rf"^{path}:11: rules\[1\].path\[0\].edge: bad regex 'prep_\(of'"):
        load_rule_file(path)


def test_bad_stage_direction_and_repeat(tmp_path):
    path = tmp_path / "x.yml"
    path.write_text("stage: negations\nrules: []\n")
    with pytest.raises(UserError, match=rf"^{path}:1: stage: Input should be 'affirmation', "):
        load_rule_file(path)
    path = write_rules(tmp_path, GOOD.replace("dir: out", "dir: up"))
    with pytest.raises(UserError, match=rf"^{path}:7: rules\[0\].path\[0\].dir: Input should be 'in' or 'out'"):
        load_rule_file(path)
    path = write_rules(tmp_path, GOOD.replace("dir: out", "repeat: [2, 1]"))
    with pytest.raises(UserError, match=rf"^{path}:7: rules\[0\].path\[0\].repeat: repeat \[2, 1\] is empty"):
        load_rule_file(path)


def test_repeat_expands_paths(tmp_path):
    path = write_rules(tmp_path, "  - id: neg.r\n    comment: x\n    path:\n"
                                 "      - {edge: '*', dir: in, repeat: [1, 3]}\n      - {edge: neg, dir: out}\n")
    (rule,) = load_rule_file(path)
    assert sorted(len(p) for p in rule.paths) == [2, 3, 4]
