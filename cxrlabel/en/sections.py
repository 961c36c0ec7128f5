"""Find report sections (FINDINGS, IMPRESSION, ...) from header variants in rules/en/sections.yml."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cxrlabel import schema
from cxrlabel.resources import rules_path
from cxrlabel.schema import EnglishSections
from cxrlabel.types import Report


@dataclass(frozen=True)
class Section:
    name: str
    text: str
    offset: int  # character offset of `text` in the report text


@dataclass(frozen=True)
class SectionRules:
    label_sections: tuple[str, ...]
    header_pattern: re.Pattern
    header_names: dict[str, str]


@cache
def section_rules(path: Path | None = None) -> SectionRules:
    """The header variants of rules/en/sections.yml (or `path`); a RuleFileError names file:line."""
    data = schema.load(EnglishSections, path or rules_path("en", "sections.yml"))
    names = {variant.lower(): name for name, variants in data.headers.items() for variant in variants}
    alternatives = "|".join(re.escape(v).replace(r"\ ", r"\s+") for v in sorted(names, key=len, reverse=True))
    pattern = re.compile(rf"(?:^|(?<=[\n.]))[ \t]*({alternatives})[ \t]*:", re.IGNORECASE)
    return SectionRules(tuple(data.label_sections), pattern, names)


def split_sections(report: Report) -> list[Section]:
    """The sections to label: findings/impression when present, else the whole text as `text`."""
    rules = section_rules()
    if report.sections:
        found = [Section(name, text, 0) for name, text in report.sections.items()]
    else:
        found = _sections_from_headers(report.text, rules)
    wanted = [s for s in found if s.name in rules.label_sections and s.text.strip()]
    return wanted or [Section("text", report.text, 0)]


def _sections_from_headers(text: str, rules: SectionRules) -> list[Section]:
    matches = list(rules.header_pattern.finditer(text))
    sections = []
    if not matches or matches[0].start() > 0 and text[: matches[0].start()].strip():
        end = matches[0].start() if matches else len(text)
        sections.append(Section("text", text[:end], 0))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        name = rules.header_names[re.sub(r"\s+", " ", match.group(1).lower())]
        sections.append(Section(name, text[match.end() : end], match.end()))
    return sections
