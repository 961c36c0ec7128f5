"""`cxrlabel rules lint`: check every rule, vocabulary, section and label-set file, with file:line messages."""

from __future__ import annotations

import re
from pathlib import Path

from cxrlabel.en.rules import load_rule_file
from cxrlabel.errors import UserError
from cxrlabel.resources import load_yaml
from cxrlabel.resources import rules_dir as installed_rules_dir
from cxrlabel.zh.rulecheck import check_rules

FINDING_KEYS = {"name", "cuis", "phrases", "regex", "exclude", "exclude_regex", "abnormal"}
LABELSET_KEYS = {"name", "lang", "labels", "description", "method", "mapping", "normal_ruled_out_by"}
LABEL_KEYS = {"name", "findings", "derived", "description"}


def _line_of(text: str, needle: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    return 1


def _load(path: Path, problems: list[str]) -> object | None:
    try:
        return load_yaml(path)
    except UserError as exc:  # file:line: YAML error ...
        problems.append(str(exc))
        return None


def _lint_findings(folder: Path, problems: list[str]) -> set[str]:
    claimed: dict[str, str] = {}
    names = set()
    for path in sorted(folder.glob("*.yml")):
        data = _load(path, problems)
        if not isinstance(data, dict):
            problems.append(f"{path}:1: a finding file must be a mapping") if data is not None else None
            continue
        text = path.read_text(encoding="utf-8")
        for key in set(data) - FINDING_KEYS:
            line = _line_of(text, key + ":")
            problems.append(f"{path}:{line}: unknown key {key!r} (allowed: {sorted(FINDING_KEYS)})")
        name = data.get("name")
        if name != path.stem:
            problems.append(f"{path}:{_line_of(text, 'name:')}: name {name!r} differs from the file name {path.stem!r}")
        names.add(str(name))
        if not data.get("phrases") and not data.get("regex"):
            problems.append(f"{path}:1: no phrases and no regex")
        for key in ("regex", "exclude_regex"):
            for pattern in data.get(key) or []:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    problems.append(f"{path}:{_line_of(text, pattern[:20])}: bad regex {pattern!r}: {exc}")
        for phrase in data.get("phrases") or []:
            key = " ".join(str(phrase).lower().split())
            where = f"{path}:{_line_of(text, str(phrase))}"
            if key in claimed and not claimed[key].startswith(str(path)):
                problems.append(f"{where}: phrase {phrase!r} is also claimed by {claimed[key]}")
            claimed.setdefault(key, where)
    return names


def _lint_rules(folder: Path, problems: list[str]) -> None:
    seen: dict[str, str] = {}
    for path in sorted(folder.glob("*.yml")):
        try:
            rules = load_rule_file(path)
        except (ValueError, KeyError, TypeError, UserError) as exc:
            problems.append(str(exc) if str(exc).startswith(str(path)) else f"{path}:1: {exc}")
            continue
        text = path.read_text(encoding="utf-8")
        for rule in rules:
            if rule.id in seen:
                problems.append(f"{rule.source}: duplicate rule id {rule.id!r} (first at {seen[rule.id]})")
            seen.setdefault(rule.id, rule.source)
            if not rule.examples:
                problems.append(f"{rule.source}: rule {rule.id!r} has no examples (text, finding, state it decides)")
            if any(len(path_) == 0 for path_ in rule.paths):
                problems.append(f"{rule.source}: rule {rule.id!r} can match an empty path (matches every mention)")
        for match in re.finditer(r"repeat:\s*\[(\d+),\s*(\d+)\]", text):
            low, high = int(match.group(1)), int(match.group(2))
            if high < low or high == 0:
                problems.append(f"{path}:{text[: match.start()].count(chr(10)) + 1}: repeat [{low}, {high}] is empty")


def _lint_label_sets(folder: Path, findings: set[str], problems: list[str]) -> None:
    for path in sorted(folder.glob("*.yml")):
        data = _load(path, problems)
        if not isinstance(data, dict):
            continue
        text = path.read_text(encoding="utf-8")
        for key in set(data) - LABELSET_KEYS:
            problems.append(f"{path}:{_line_of(text, key + ':')}: unknown key {key!r}")
        names = set()
        for label in data.get("labels") or []:
            label_name = label.get("name") if isinstance(label, dict) else None
            if label_name is None:
                problems.append(f"{path}:{_line_of(text, str(label))}: every label needs a name")
                continue
            line = _line_of(text, str(label_name))
            if label_name in names:
                problems.append(f"{path}:{line}: duplicate label {label_name!r}")
            names.add(label_name)
            for key in set(label) - LABEL_KEYS:
                problems.append(f"{path}:{line}: unknown label key {key!r}")
            if data.get("lang") == "en":
                for finding in label.get("findings") or []:
                    if finding not in findings:
                        problems.append(f"{path}:{line}: label {label_name!r} names unknown finding {finding!r}")


def lint_rules(folder: Path | None = None) -> list[str]:
    """All problems found under the rules folder (empty list: all good)."""
    root = Path(folder) if folder else installed_rules_dir()
    problems: list[str] = []
    findings = _lint_findings(root / "en" / "findings", problems)
    _lint_rules(root / "en" / "rules", problems)
    _lint_label_sets(root / "labelsets", findings, problems)
    checked = {root / "en" / "findings", root / "en" / "rules", root / "labelsets"}
    for path in sorted(root.rglob("*.y*ml")):
        if path.parent not in checked:
            _load(path, problems)  # every other data file must at least be valid YAML
    zh = root / "zh"
    if zh.is_dir() and not any(problem.startswith(str(zh)) for problem in problems):
        try:
            problems += [f"{zh}/{problem}" for problem in check_rules(root)]
        except (KeyError, TypeError, AttributeError) as exc:
            problems.append(f"{zh}: a Chinese rule file lacks an expected section: {exc}")
    return problems
