"""Chinese text normalisation, section finding and clause splitting (rules/zh/normalize.yml, sections.yml)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from cxrlabel import schema
from cxrlabel.resources import rules_path
from cxrlabel.schema import ChineseNormalisation, ChineseSections
from cxrlabel.textclean import CIRCLED_NUMBER
from cxrlabel.types import Report
from cxrlabel.zh.cues import load_cues

# enumeration marks: "(3)" "(三)" anywhere; "1." "2、" "3)" "一、" at the start of the text or after
# punctuation/space, or right after a character and before the next ("增多2)主动脉", not "第5、6肋", "约2.5cm")
NUMBERING = re.compile(
    r"[(（](?:\d{1,2}|[一二三四五六七八九十]{1,2})[)）]"
    r"|(?:^|(?<=[\s。；;，,：:]))(?:\d{1,2}|[一二三四五六七八九十]{1,2})[)）.、．](?!\d)"
    r"|(?<=[\u4e00-\u9fff])(?<!第)\d{1,2}[)）.、．](?=[\u4e00-\u9fff])"
)
# a space is a clause break ("两肺纹理增多 主动脉硬化", "肺气肿? 心影增大") unless it stands between two
# letters/digits ("0.5 cm")
SPACE_BREAK = re.compile(r"(?<![A-Za-z0-9])\s+|\s+(?![A-Za-z0-9])")


@dataclass(frozen=True)
class TextRules:
    traditional: dict[int, str]  # str.translate table, traditional → simplified characters
    typos: tuple[tuple[str, str], ...]
    typo_patterns: tuple[tuple[re.Pattern, str], ...]
    synonyms: dict[str, str]
    synonym_pattern: re.Pattern  # every variant, longest first (no standard form holds a variant: rules lint)
    clause_split: re.Pattern
    item_split: re.Pattern
    variables: re.Pattern
    headers: re.Pattern
    header_names: dict[str, str]


@cache
def text_rules(folder: Path | None = None) -> TextRules:
    """The tables of normalize.yml and sections.yml in rules/zh (or `folder`); a RuleFileError names file:line."""
    folder = folder or rules_path("zh")
    data = schema.load(ChineseNormalisation, folder / "normalize.yml")
    sections = schema.load(ChineseSections, folder / "sections.yml").headers
    names = {variant: name for name, variants in sections.items() for variant in variants}
    header_alternatives = "|".join(re.escape(v) for v in sorted(names, key=len, reverse=True))
    return TextRules(
        traditional=str.maketrans({pair[0]: pair[1] for pair in data.traditional.split()}),
        typos=tuple(sorted(data.typos.items(), key=lambda kv: len(kv[0]), reverse=True)),
        typo_patterns=tuple((re.compile(pattern), replacement) for pattern, replacement in data.typo_patterns),
        synonyms=dict(data.synonyms),
        synonym_pattern=re.compile("|".join(re.escape(v) for v in sorted(data.synonyms, key=len, reverse=True))),
        clause_split=re.compile("[" + re.escape(data.clause_separators) + "]+"),
        item_split=re.compile("[" + re.escape(data.item_separators) + "]+"),
        variables=re.compile(data.variable_pattern, re.IGNORECASE),
        # "诊断：" / "诊断:" after a break, "【诊断】" / "[诊断]" anywhere, or "诊断" alone on its line
        headers=re.compile(rf"(?:(?:^|(?<=[\s。]))({header_alternatives})\s*[:：]|[【\[]\s*({header_alternatives})\s*[】\]]"
                           rf"|^[ \t]*({header_alternatives})[ \t]*$)", re.MULTILINE),
        header_names=names,
    )


def normalise(text: str) -> str:
    """NFKC (full-width → half-width), traditional characters → simplified, then known typo variants
    and typo character classes (隔 → 膈 …) replaced by the standard term."""
    rules = text_rules()
    text = unicodedata.normalize("NFKC", CIRCLED_NUMBER.sub("。", text)).translate(rules.traditional)
    for wrong, right in rules.typos:
        text = text.replace(wrong, right)
    for pattern, right in rules.typo_patterns:
        text = pattern.sub(right, text)
    return text


@lru_cache(maxsize=200_000)
def canonical(text: str) -> str:
    """One spelling per synonym (双肺 → 两肺, 略 → 稍 …), for comparing a clause with templates/exemplars."""
    rules = text_rules()
    return rules.synonym_pattern.sub(lambda match: rules.synonyms[match.group(0)], text)


def strip_variables(clause: str) -> str:
    """Remove numbers and measurements (the 'variables' of Dong et al.) and spaces."""
    return re.sub(r"\s+", "", text_rules().variables.sub("", clause))


# 。；! and a full stop that is not a decimal point ("0.55") end a sentence
SENTENCE_SPLIT = re.compile(r"(?:[。；;!！\n]|\.(?!\d)|(?<!\d)\.)+")


# a question mark with more text after it ends its sentence: it hedges what comes before it only
# ("高血压心脏改变?主动脉硬化"); NFKC has turned "？" into "?"
QUESTION_BREAK = re.compile(r"\?+(?=[^\s?。；;!！\n)])")


# a remark in brackets that starts with a word ("(少量)", "(支气管炎?)", "(心衰可能)") is a clause of its own, so
# its hedge stays inside it; signs ("(-)", "(?)") and a cue alone ("(可能)", "(待排)") stay with their finding
REMARK = re.compile(r"\(([\u4e00-\u9fff][^()]*)\)")


def _remark(match: re.Match) -> str:
    cues = load_cues()
    word = match.group(1).strip("?")
    if cues.uncertainty.fullmatch(word) or cues.negation.fullmatch(word):
        return match.group(0)
    return f",{match.group(1)},"


def _mark_boundaries(text: str) -> str:
    """Numbering and a question mark inside the text become a sentence end, a bracketed remark and a space a
    clause break."""
    text = QUESTION_BREAK.sub(lambda m: m.group(0) + "。", text)
    text = REMARK.sub(_remark, NUMBERING.sub("。", text))
    return SPACE_BREAK.sub(",", text)


def split_sentences(text: str) -> list[str]:
    """Sentences of normalised text: numbering ("1." "2、" "(3)" "一、") and 。；!. end a sentence."""
    return [s for s in SENTENCE_SPLIT.split(_mark_boundaries(text)) if s.strip()]


def split_clauses(text: str) -> list[str]:
    """Clauses of normalised text: numbering, sentence ends and clause punctuation split it."""
    rules = text_rules()
    text = SENTENCE_SPLIT.sub("。", _mark_boundaries(text))
    clauses = [strip_variables(c) for c in rules.clause_split.split(text)]
    return [c.strip(".、:") for c in clauses if c.strip(".、:")]


def split_items(clause: str) -> list[str]:
    """Enumerated items of one clause ("慢性支气管炎、肺气肿" → two items)."""
    return [item for item in text_rules().item_split.split(clause) if item]


def find_sections(report: Report) -> dict[str, str]:
    """findings / diagnosis text of a report: from its columns, else from 影像所见: / 诊断: headers.

    Text without any header is treated as findings when it is long, else as a diagnosis.
    """
    if report.sections:
        return {name: normalise(text) for name, text in report.sections.items()}
    text = normalise(report.text)
    rules = text_rules()
    matches = list(rules.headers.finditer(text))
    if not matches:
        return {"findings" if len(text) > 60 else "diagnosis": text}
    sections: dict[str, str] = {}
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        name = rules.header_names[next(group for group in match.groups() if group)]
        sections[name] = (sections.get(name, "") + "。" + text[match.end():end]).strip("。 \n")
    return sections
