"""The contract every registered part keeps (as scikit-learn's parametrize_with_checks runs one set of checks over
every estimator): each check runs over every entry of the registries, a package's plugin entries included.

Labelers (with each label set of their language): one result per report, in input order; read errors passed
through in place; the same output on a second run with a second labeler, and whatever the batching.
Parsers: one parse per sentence, in order, with tokens that point into the sentence; the canonical graph contract
of cxrlabel/en/graph.py (rules/README.md): prepositions collapsed into `prep_*` labels, coordination flattened and
propagated, negation words `neg`, no backend-only label left. The stanza adapter is held to it on stanza Documents
read from hand-annotated CoNLL-U when stanza's English models are not installed (no download here).
"""

import csv
from functools import cache
from pathlib import Path

import pytest

from cxrlabel import registry
from cxrlabel.en.graph import build_graph
from cxrlabel.errors import UserError
from cxrlabel.readers import iter_reports
from cxrlabel.runner import run_labeler
from cxrlabel.types import ReadError, Report, ReportResult, State

DATA = Path(__file__).parent / "data"
SAMPLES = {"en": DATA / "en_challenge.csv", "zh": DATA / "zh_challenge.csv"}  # real reports per language
UPOS = {"ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT",
        "SCONJ", "SYM", "VERB", "X", "SPACE"}
NEGATION_WORDS = {"no", "not", "n't", "never", "neither", "nor", "without"}  # rules/README.md
COORDINATORS = {"and", "or", "nor", "but"}
# Labels of the backends that the canonical scheme replaces: none may be left in a graph.
BACKEND_ONLY = {"case", "cc", "conj", "pobj", "pcomp", "prep", "obj", "acomp", "attr", "oprd", "nsubj:pass",
                "aux:pass", "csubj:pass", "acl:relcl", "compound:prt", "nmod:poss", "root", "ROOT"}


def label_set_cases() -> list[tuple[str, str]]:
    """(language, label set) for every label set, shipped or registered, whose language has a labeler."""
    cases = []
    for name in registry.available_label_sets():
        lang = registry.load_label_set(name).lang
        if lang in registry.registered_names(registry.labelers):
            cases.append((lang, name))
    return cases


LABEL_SET_CASES = label_set_cases()


def test_every_labeler_and_label_set_is_checked():
    assert {"en", "zh"} <= {lang for lang, _ in LABEL_SET_CASES}
    assert {"chestxray14", "chexpert", "dong10", "regions5"} <= {name for _, name in LABEL_SET_CASES}


@cache
def labeler_for(lang: str, label_set: str, copy: int = 0) -> registry.Labeler:
    """A labeler built through the registry, once per test session (another `copy` number builds another one)."""
    return registry.create_labeler(lang, registry.load_label_set(label_set), **labeler_options(lang))


def labeler_options(lang: str) -> dict:
    return {"parser": "spacy"} if lang == "en" else {}


def sample_items(lang: str, folder: Path) -> list[Report | ReadError]:
    """Twelve real reports of `lang` read by the CSV reader, with an empty report and a duplicate id between them
    (read errors the labeler never sees)."""
    with open(SAMPLES.get(lang, SAMPLES["en"]), newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:13]
    blank = [""] * (len(header) - 1)
    rows = [header, *body[:4], ["empty", *blank], *body[4:9], list(body[0]), *body[9:]]
    path = folder / f"{lang}.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    items = list(iter_reports(path))
    assert [type(item) is ReadError for item in items].count(True) == 2
    return items


def result_id(result) -> str:
    return result.report_id if isinstance(result, ReportResult) else result.id


@pytest.mark.parametrize("lang, label_set", LABEL_SET_CASES, ids=[f"{a}-{b}" for a, b in LABEL_SET_CASES])
def test_labeler_contract(lang, label_set, tmp_path):
    items = sample_items(lang, tmp_path)
    reports = [item for item in items if isinstance(item, Report)]
    labeler = labeler_for(lang, label_set)
    names = set(labeler.label_set.names)

    whole = labeler.label_batch(reports)
    assert [result_id(r) for r in whole] == [r.id for r in reports]  # one result per report, in input order
    labelled = [r for r in whole if isinstance(r, ReportResult)]
    assert len(labelled) == len(reports)  # real reports of the labeler's language: none refused
    assert sum(bool(r.labels) for r in labelled) >= len(reports) // 2
    for result in labelled:
        assert set(result.labels) <= names and all(isinstance(s, State) for s in result.labels.values())

    one_by_one = [labeler.label_batch([report])[0] for report in reports]
    assert one_by_one == whole  # batching changes nothing
    reversed_batch = labeler.label_batch(reports[::-1])
    assert reversed_batch[::-1] == whole

    second = labeler_for(lang, label_set, copy=1)
    assert second is not labeler and second.label_batch(reports) == whole  # deterministic across labelers

    through_runner = list(run_labeler(items, lang, labeler.label_set, labeler_options(lang), batch_size=5))
    assert [result_id(r) for r in through_runner] == [item.id for item in items]
    for item, result in zip(items, through_runner, strict=True):
        if isinstance(item, ReadError):
            assert result is item  # passed through, in place
    assert [r for r in through_runner if isinstance(r, ReportResult)] == labelled


@pytest.mark.parametrize("lang", registry.registered_names(registry.labelers))
def test_labeler_refuses_another_languages_label_set(lang):
    other = next((name for other_lang, name in LABEL_SET_CASES if other_lang != lang), None)
    if other is None:
        pytest.skip("only one language has label sets")
    with pytest.raises(UserError, match=f"is for --lang .*, not {lang}"):
        registry.create_labeler(lang, registry.load_label_set(other))


# ---- parsers ----

CONLLU = DATA / "en_openi_ud.conllu"


@cache
def conllu_sentences() -> tuple:
    """The stanza adapter's records of the hand-annotated CoNLL-U sentences."""
    from stanza.utils.conll import CoNLL

    from cxrlabel.en.parse_stanza import sentences_from_document

    return tuple(sentences_from_document(CoNLL.conll2doc(input_str=CONLLU.read_text(encoding="utf-8"))))


@cache
def built_parser(name: str):
    try:
        return registry.parser_class(name)()
    except UserError as exc:  # a backend whose models are not installed here
        return exc


def parse_with(name: str, sentences: list[str]) -> list:
    parser = built_parser(name)
    if isinstance(parser, UserError):
        if name != "stanza":
            pytest.skip(f"parser {name!r} cannot start here: {parser}")
        by_text = {s.text: s for s in conllu_sentences()}
        return [by_text[text] for text in sentences]
    return parser.parse(sentences)


PARSER_NAMES = registry.registered_names(registry.parsers)


def test_every_parser_is_checked():
    assert {"spacy", "stanza"} <= set(PARSER_NAMES)


@pytest.mark.parametrize("name", PARSER_NAMES)
def test_parser_contract(name):
    texts = [sentence.text for sentence in conllu_sentences()]
    first = parse_with(name, texts)
    assert [p.text for p in first] == texts  # one parse per sentence, in order
    assert parse_with(name, texts) == first  # deterministic
    assert parse_with(name, texts[::-1]) == first[::-1]
    assert parse_with(name, []) == []
    for parsed in first:
        assert parsed.scheme in ("clear", "ud")
        tokens = parsed.tokens
        assert [t.i for t in tokens] == list(range(len(tokens)))
        assert any(t.head == -1 for t in tokens)
        for token in tokens:
            assert parsed.text[token.start:token.end] == token.text
            assert -1 <= token.head < len(tokens) and token.head != token.i
            assert token.lemma == token.lemma.lower() and token.pos in UPOS


@pytest.mark.parametrize("name", PARSER_NAMES)
def test_canonical_graph_contract(name):
    texts = [sentence.text for sentence in conllu_sentences()]
    labels_seen = set()
    for parsed in parse_with(name, texts):
        graph = build_graph(parsed)
        assert sorted(graph.nodes) == [t.i for t in parsed.tokens]
        for node, data in graph.nodes(data=True):
            token = parsed.tokens[node]
            assert (data["text"], data["lemma"], data["pos"], data["start"], data["end"]) == (
                token.text, token.lemma, token.pos, token.start, token.end)
            assert isinstance(data["clause"], int)
        lemmas = {t.lemma for t in parsed.tokens}
        for _, dependent, label in graph.edges(data="label"):
            labels_seen.add(label)
            assert label not in BACKEND_ONLY, (parsed.text, label)
            if label.startswith("prep_"):  # the preposition's own words name the label
                assert set(label.removeprefix("prep_").split("_")) <= lemmas, (parsed.text, label)
            if label.startswith("conj_"):
                assert label.removeprefix("conj_") in COORDINATORS
            if label in ("det", "advmod"):
                assert graph.nodes[dependent]["lemma"] not in NEGATION_WORDS, (parsed.text, label)
        for first, other, label in graph.edges(data="label"):
            if not label.startswith("conj_"):
                continue
            group = {first} | {d for _, d, lab in graph.out_edges(first, data="label") if lab.startswith("conj_")}
            for head, _, incoming in graph.in_edges(first, data="label"):
                if head not in group:
                    assert graph.edges.get((head, other), {}).get("label") is not None, (parsed.text, incoming)
    assert {"neg", "nsubj", "cop", "prep_of", "conj_or"} <= labels_seen
