"""Region templates (Huang et al. 2020): route findings clauses to 5 regions and decide each abnormal or not."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from cxrlabel import schema
from cxrlabel.resources import rules_path
from cxrlabel.schema import ChineseRegions, RatioSpec
from cxrlabel.types import State
from cxrlabel.zh.cues import clause_state, negation_split
from cxrlabel.zh.text import canonical, split_clauses, split_sentences


@dataclass(frozen=True)
class Region:
    name: str
    cues: tuple[str, ...]
    normal: tuple[str, ...]  # normal template statements (canonical spelling)
    abnormal: tuple[str, ...]  # abnormal example statements
    abnormal_terms: frozenset[str]
    ratio: re.Pattern | None = None  # "心胸比约0.56": a measured ratio read before numbers are stripped
    ratio_above: float = 0.0  # … abnormal above this value
    signs: tuple[str, ...] = ()  # signs of this region's finding that route their clause here ("上缘呈弧形")


@dataclass(frozen=True)
class RegionDecision:
    region: str
    clause: str
    abnormal: bool
    state: State
    rule_id: str


@cache
def load_regions(path: Path | None = None) -> tuple[tuple[Region, ...], float]:
    """The regions and the distance threshold of rules/zh/regions.yml (or `path`); a RuleFileError names
    file:line."""
    spec = schema.load(ChineseRegions, path or rules_path("zh", "regions.yml"))
    regions = tuple(
        Region(name, tuple(region.cues), tuple(canonical(t) for t in region.normal),
               tuple(canonical(t) for t in region.abnormal), frozenset(canonical(t) for t in region.abnormal_terms),
               *_ratio(region.ratio), tuple(canonical(t) for t in region.signs))
        for name, region in spec.regions.items()
    )
    return regions, spec.max_distance


def _ratio(spec: RatioSpec | None) -> tuple[re.Pattern | None, float]:
    """The pattern of a measured ratio ("心胸比约0.56", "心胸比例为0.58", "心胸比大于0.5"): a cue, at most a
    linking or "greater than" word, the value; "less than" ("心胸比<0.5", "小于0.5") does not match."""
    if spec is None:
        return None, 0.0
    cues = "|".join(re.escape(c) for c in sorted(spec.cues, key=len, reverse=True))
    return re.compile(rf"(?:{cues})\s*(约为|约|为|是|=|:|大于|超过|>)?\s*(\d?\.\d+)"), spec.above


GREATER = ("大于", "超过", ">")


def ratio_decisions(sentence: str, regions: tuple[Region, ...]) -> list[RegionDecision]:
    """Abnormal decisions for measured ratios above their region's limit ("心胸比约0.56" → heart)."""
    return [RegionDecision(region.name, match.group(0), True, State.POSITIVE, f"zh.ratio:{match.group(2)}")
            for region in regions if region.ratio is not None for match in region.ratio.finditer(sentence)
            if float(match.group(2)) > region.ratio_above
            or (match.group(1) in GREATER and float(match.group(2)) >= region.ratio_above)]


@cache
def _cue_index() -> tuple[re.Pattern, dict[str, Region]]:
    """One pattern of every region cue, longest first (so the longest cue wins at a place), and cue → region
    (a cue listed twice belongs to the first region naming it)."""
    owner: dict[str, Region] = {}
    for region in load_regions()[0]:
        for cue in region.cues:
            owner.setdefault(cue, region)
    return re.compile("|".join(re.escape(c) for c in sorted(owner, key=len, reverse=True))), owner


def route(clause: str) -> Region | None:
    """The region of the cue that comes first in the clause (its subject: "心影呈主动脉型" is the heart),
    the longest cue at that place winning ("肺动脉段" over "肺")."""
    pattern, owner = _cue_index()
    match = pattern.search(clause)
    return owner[match.group(0)] if match else None


def sign_routes(clauses: list[str], regions: tuple[Region, ...]) -> dict[int, tuple[Region, str]]:
    """Clauses routed by a sign rather than by their cue: the clause holding a region's sign ("上缘呈弧形"), and
    the clause before it when the sign clause names no region itself (it describes that clause's opacity:
    "右下肺野见大片致密影，上缘呈弧形" is the effusion, not the lung)."""
    routes: dict[int, tuple[Region, str]] = {}
    for index, clause in enumerate(clauses):
        text = canonical(clause)
        found = next(((r, sign) for r in regions for sign in r.signs if sign in text), None)
        if found is None:
            continue
        routes[index] = found
        if index > 0 and route(clause) is None:
            routes[index - 1] = found
    return routes


def decide_clause(clause: str, region: Region, max_distance: float) -> tuple[bool, State, str]:
    """(abnormal?, state, rule id) of one clause routed to `region`."""
    state, cue = clause_state(clause)
    if state == State.NEGATIVE:
        return False, state, f"zh.negation:{cue}"
    text = canonical(clause)
    terms = sorted((t for t in region.abnormal_terms if t in text), key=len, reverse=True)
    normal = process.extractOne(text, region.normal, scorer=Levenshtein.normalized_distance)
    abnormal = process.extractOne(text, region.abnormal, scorer=Levenshtein.normalized_distance)
    if abnormal is not None and abnormal[1] <= max_distance and (normal is None or abnormal[1] <= normal[1]):
        return True, state, f"zh.template:{abnormal[0]}"  # as near an abnormal example as any normal template
    if normal is not None and normal[1] <= max_distance:
        statement = normal[0]
        # near a normal template but naming an abnormality it lacks ("主动脉结增大" vs "主动脉结不大")
        terms = [t for t in terms if t not in statement]
        if not terms:
            return False, State.NEGATIVE, f"zh.template:{statement}"
    if terms:
        return True, state, f"zh.term:{terms[0]}"
    return False, State.NEGATIVE, "zh.no_abnormal_term"


JOINERS = ("并见", "伴有", "合并", "并", "伴", "及", "和", "与", "、")


def split_coordinated(clause: str, regions: tuple[Region, ...]) -> list[str]:
    """A clause joining statements on different regions ("心影增大并主动脉结钙化") cut before each joined
    region's cue; not after a negation, which covers the whole list ("未见心影增大及胸腔积液"), and not
    where a region word is only a description ("心影呈主动脉型": no joiner before it)."""
    if not any(joiner in clause for joiner in JOINERS):
        return [clause]
    parts, start = [], 0
    current = route(clause)
    for position in range(2, len(clause) - 1):
        if not clause[start:position].endswith(JOINERS):
            continue
        cue_region = next((r for r in regions for cue in r.cues if clause.startswith(cue, position)), None)
        if cue_region is None or cue_region is current or clause_state(clause[:position])[0] == State.NEGATIVE:
            continue
        parts.append(clause[start:position])
        start, current = position, cue_region
    return parts + [clause[start:]]


def decide_regions(findings: str) -> list[RegionDecision]:
    """One decision per routed statement (clause, or part of a clause) of the findings text."""
    return [decision for sentence in split_sentences(findings) for decision in decide_sentence(sentence)]


@lru_cache(maxsize=200_000)
def decide_sentence(sentence: str) -> tuple[RegionDecision, ...]:
    """The decisions of one findings sentence (sentences repeat across reports: cached)."""
    regions, max_distance = load_regions()
    decisions = ratio_decisions(sentence, regions)
    region = None  # a clause without a cue continues the region of the clause before it
    clauses = [part for whole in split_clauses(sentence) for part in split_coordinated(whole, regions)]
    by_sign = sign_routes(clauses, regions)
    for index, clause in enumerate(clauses):
        region = by_sign[index][0] if index in by_sign else route(clause) or region
        routed = f"|sign:{by_sign[index][1]}" if index in by_sign else ""
        if region is None:
            continue
        split = negation_split(clause)
        if split and decide_clause(split[0], region, max_distance)[0]:
            # "两肺纹理增多未见实变影": the statement before the negation stands on its own
            region_after = route(split[1]) or region
            for part, part_region in ((split[0], region), (split[1], region_after)):
                abnormal, state, rule_id = decide_clause(part, part_region, max_distance)
                decisions.append(RegionDecision(part_region.name, part, abnormal, state, rule_id))
            region = region_after
            continue
        abnormal, state, rule_id = decide_clause(clause, region, max_distance)
        decisions.append(RegionDecision(region.name, clause, abnormal, state, rule_id + routed))
    return tuple(decisions)
