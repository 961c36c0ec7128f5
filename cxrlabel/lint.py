"""`cxrlabel rules lint`: check every rule, vocabulary, section and label-set file, with file:line messages.

Each file is validated against its kind in cxrlabel/schema.py, the models the loaders use, so the lint and a
run give the same verdict on a file; then the checks that need several files: phrases claimed by two findings,
rule ids used twice, rules without examples, label sets naming unknown findings, the Chinese consistency checks.
"""

from __future__ import annotations

from pathlib import Path

from cxrlabel import schema
from cxrlabel.en.rules import load_rule_file
from cxrlabel.errors import UserError
from cxrlabel.resources import read_yaml
from cxrlabel.resources import rules_dir as installed_rules_dir
from cxrlabel.schema import ClusterMapping, FindingFile, LabelSetFile, RuleFile, RuleModel
from cxrlabel.zh.rulecheck import check_rules


def _validate(root: Path, problems: list[str]) -> dict[Path, RuleModel]:
    """Every YAML file under `root` checked against its kind; the valid ones, read."""
    valid: dict[Path, RuleModel] = {}
    for path in sorted(root.rglob("*.y*ml")):
        moved = schema.moved_file_problem(path, root)
        if moved:
            problems.append(moved)
            continue
        model = schema.kind_of(path, root)
        if model is None:
            try:
                read_yaml(path)  # a file of no kind must still be valid YAML
            except UserError as exc:
                problems.append(str(exc))
            continue
        found = schema.problems(model, path)
        problems += found
        if not found:
            valid[path] = schema.load(model, path)
    return valid


def _lint_findings(valid: dict[Path, RuleModel], problems: list[str]) -> set[str]:
    claimed: dict[str, str] = {}
    names = set()
    for path, finding in valid.items():
        if not isinstance(finding, FindingFile):
            continue
        document = read_yaml(path)
        if finding.name != path.stem:
            problems.append(f"{path}:{document.line(('name',))}: name {finding.name!r} differs from the file name "
                            f"{path.stem!r}")
        names.add(finding.name)
        for index, phrase in enumerate(finding.phrases):
            key = " ".join(phrase.lower().split())
            where = f"{path}:{document.line(('phrases', index))}"
            if key in claimed and not claimed[key].startswith(f"{path}:"):
                problems.append(f"{where}: phrase {phrase!r} is also claimed by {claimed[key]}")
            claimed.setdefault(key, where)
    return names


def _lint_rules(valid: dict[Path, RuleModel], problems: list[str]) -> None:
    seen: dict[str, str] = {}
    for path, rule_file in valid.items():
        if not isinstance(rule_file, RuleFile):
            continue
        for rule in load_rule_file(path):
            if rule.id in seen:
                problems.append(f"{rule.source}: duplicate rule id {rule.id!r} (first at {seen[rule.id]})")
            seen.setdefault(rule.id, rule.source)
            if not rule.examples:
                problems.append(f"{rule.source}: rule {rule.id!r} has no examples (text, finding, state it decides)")
            if any(len(steps) == 0 for steps in rule.paths):
                problems.append(f"{rule.source}: rule {rule.id!r} can match an empty path (matches every mention)")


def _lint_label_sets(valid: dict[Path, RuleModel], findings: set[str], problems: list[str]) -> None:
    for path, label_set in valid.items():
        if not isinstance(label_set, LabelSetFile):
            continue
        document = read_yaml(path)
        if label_set.mapping:
            mapping = path.parent / label_set.mapping
            if not mapping.is_file():
                problems.append(f"{path}:{document.line(('mapping',))}: mapping file {mapping} not found")
            elif mapping not in valid:  # a mapping outside the rules folder's kinds
                problems += schema.problems(ClusterMapping, mapping)
        if label_set.lang != "en":
            continue
        for index, label in enumerate(label_set.labels):
            for number, finding in enumerate(label.findings):
                if finding not in findings:
                    line = document.line(("labels", index, "findings", number))
                    problems.append(f"{path}:{line}: label {label.name!r} names unknown finding {finding!r}")


def lint_rules(folder: Path | None = None) -> list[str]:
    """All problems found under the rules folder (empty list: all good)."""
    root = Path(folder) if folder else installed_rules_dir()
    problems: list[str] = []
    valid = _validate(root, problems)
    findings = _lint_findings(valid, problems)
    _lint_rules(valid, problems)
    _lint_label_sets(valid, findings, problems)
    zh = root / "zh"
    if zh.is_dir() and not any(problem.startswith(str(zh)) for problem in problems):
        problems += [f"{zh}/{problem}" for problem in check_rules(root)]
    return list(dict.fromkeys(problems))  # a broken cue-families file is named once, not once per rule file
