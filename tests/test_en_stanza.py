"""The stanza adapter on stanza Documents read from hand-annotated CoNLL-U (no neural model, no download)."""

from pathlib import Path

import pytest
import stanza
from stanza.utils.conll import CoNLL
from typer.testing import CliRunner

from cxrlabel.cli import app
from cxrlabel.en.graph import build_graph, edge_list
from cxrlabel.en.labeler import decide_sentence
from cxrlabel.en.parse_stanza import FIX, StanzaParser, sentences_from_document
from cxrlabel.en.rules import load_rules
from cxrlabel.en.vocabulary import find_mentions, load_vocabulary
from cxrlabel.errors import UserError

CONLLU = (Path(__file__).parent / "data" / "en_openi_ud.conllu").read_text()
# Sentences whose spaCy parse is the same tree as the UD annotation. In comma lists the two schemes attach
# commas differently (UD: to the next conjunct, spaCy: to the previous), so there punctuation is left out.
SAME_TREE = ["no_ptx", "evidence", "heart", "cannot", "may", "there", "without", "without_list", "negative_for",
             "there_no_list", "normal_in_size", "not_seen", "granuloma"]


@pytest.fixture(scope="module", params=[False, True], ids=["text-comment", "reconstructed-offsets"])
def parsed(request):
    document = CoNLL.conll2doc(input_str=CONLLU, reconstruct_text=request.param)
    ids = [sentence.sent_id for sentence in document.sentences]
    return dict(zip(ids, sentences_from_document(document), strict=True))


def edges(graph, with_punct=False):
    return {(graph.nodes[h]["text"], label, graph.nodes[d]["text"])
            for h, d, label in graph.edges(data="label") if with_punct or label != "punct"}


def test_tokens_and_offsets(parsed):
    assert len(parsed) == 14
    for sentence in parsed.values():
        assert sentence.scheme == "ud"
        for token in sentence.tokens:
            assert sentence.text[token.start:token.end] == token.text
    cannot = parsed["cannot"]  # multi-word token "cannot" = can + not
    assert cannot.text == "Pneumonia cannot be excluded."
    assert [(t.text, t.lemma, t.pos, t.dep, t.head) for t in cannot.tokens[:3]] == [
        ("Pneumonia", "pneumonia", "NOUN", "nsubj:pass", 4), ("can", "can", "AUX", "aux", 4),
        ("not", "not", "PART", "advmod", 4)]
    assert cannot.tokens[4].head == -1  # the root


def test_document_without_text_comment():
    block = CONLLU.split("# sent_id = evidence\n")[1].split("\n\n")[0]
    lines = "\n".join(line for line in block.splitlines() if not line.startswith("#")) + "\n"
    (sentence,) = sentences_from_document(CoNLL.conll2doc(input_str=lines))
    assert sentence.text == "No evidence of pneumothorax ."
    for token in sentence.tokens:
        assert sentence.text[token.start:token.end] == token.text


def test_canonical_edges_from_ud(parsed):
    graph = {key: edges(build_graph(sentence)) for key, sentence in parsed.items()}
    assert graph["no_ptx"] == {("pneumothorax", "neg", "No"), ("pneumothorax", "conj_or", "effusion"),
                               ("effusion", "amod", "pleural")}
    assert graph["clear_of"] == {
        ("clear", "nsubj", "lungs"), ("clear", "cop", "are"), ("lungs", "det", "The"),
        ("clear", "prep_of", "disease"), ("clear", "prep_of", "pneumothorax"), ("clear", "prep_of", "effusion"),
        ("disease", "conj_or", "pneumothorax"), ("disease", "conj_or", "effusion"),
        ("disease", "amod", "focal"), ("disease", "compound", "airspace"), ("effusion", "amod", "pleural")}
    assert graph["evidence"] == {("evidence", "neg", "No"), ("evidence", "prep_of", "pneumothorax")}
    assert graph["heart"] == {("normal", "nsubj", "size"), ("normal", "cop", "is"), ("size", "compound", "Heart")}
    assert graph["cannot"] == {("excluded", "nsubjpass", "Pneumonia"), ("excluded", "aux", "can"),
                               ("excluded", "neg", "not"), ("excluded", "auxpass", "be")}
    assert ("represent", "dobj", "atelectasis") in graph["may"]
    assert ("clear", "prep_without", "consolidation") in graph["without"]
    # a fragment headed by the preposition's object (OpenI): the preposition heads it, as with spaCy
    assert graph["without_list"] == {
        ("without", "prep_without", "consolidation"), ("without", "prep_without", "pneumothorax"),
        ("without", "prep_without", "effusion"), ("consolidation", "amod", "focal"),
        ("consolidation", "conj_or", "pneumothorax"), ("consolidation", "conj_or", "effusion"),
        ("effusion", "amod", "pleural")}
    assert {("is", "nsubj", x) for x in ("consolidation", "effusion", "pneumothorax")} <= graph["there_no_list"]
    assert ("consolidation", "neg", "no") in graph["there_no_list"]
    assert ("granuloma", "prep_within", "lung") in graph["granuloma"]


def test_one_canonical_graph_for_both_parsers(parsed, spacy_parser):
    for key in SAME_TREE:
        ud = edge_list(build_graph(parsed[key]))
        clear = edge_list(build_graph(spacy_parser.parse([parsed[key].text])[0]))
        if "," in parsed[key].text:
            ud, clear = ([e for e in edges if e[1] != "punct"] for edges in (ud, clear))
        assert ud == clear, key


def test_clear_of_list_same_core_edges_as_spacy(parsed, spacy_parser):
    # spaCy attaches "focal" to "airspace" and commas to the preceding conjunct; the rest is the same.
    ud = build_graph(parsed["clear_of"])
    clear = build_graph(spacy_parser.parse([parsed["clear_of"].text])[0])
    core = {"nsubj", "cop", "det", "prep_of", "conj_or", "compound"}
    assert {e for e in edges(ud) if e[1] in core} == {e for e in edges(clear) if e[1] in core}


def test_rules_decide_the_same_on_both_parsers(parsed, spacy_parser):
    vocabulary, rules = load_vocabulary(), load_rules()
    decided = {}
    for key, sentence in parsed.items():
        matches = find_mentions(sentence.text, vocabulary)
        ud = decide_sentence(build_graph(sentence), matches, rules)
        clear = decide_sentence(build_graph(spacy_parser.parse([sentence.text])[0]), matches, rules)
        summary = [(d.match.finding, d.state.value, d.rule_id) for d in ud]
        assert summary == [(d.match.finding, d.state.value, d.rule_id) for d in clear], key
        decided[key] = {finding: state for finding, state, _ in summary}
    assert decided["no_ptx"] == {"pneumothorax": "negative", "pleural_effusion": "negative"}
    assert decided["clear_of"]["pleural_effusion"] == "negative"
    assert decided["cannot"] == {"pneumonia": "uncertain"}
    assert decided["may"]["atelectasis"] == "uncertain"
    assert decided["there"] == {"pleural_effusion": "positive"}
    assert decided["without"] == {"consolidation": "negative"}
    assert set(decided["without_list"].values()) == {"negative"} and len(decided["without_list"]) == 3
    assert decided["negative_for"] == {"pneumothorax": "negative", "pleural_effusion": "negative"}
    assert decided["not_seen"] == {"pneumothorax": "negative"}


def _stanza_models_installed() -> bool:
    from stanza.resources.common import DEFAULT_MODEL_DIR

    return (Path(DEFAULT_MODEL_DIR) / "resources.json").exists()


@pytest.fixture
def no_download(monkeypatch):
    """Record (and refuse) any attempt by stanza to fetch resources."""
    import stanza.resources.common as common

    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError("stanza tried to download")

    for name in ("download", "download_file", "request_file", "download_resources_json"):
        if hasattr(common, name):
            monkeypatch.setattr(common, name, refuse)
    monkeypatch.setattr(stanza, "download", refuse)
    return attempts


@pytest.mark.skipif(_stanza_models_installed(), reason="stanza English models are installed here")
def test_stanza_parser_without_models_names_the_fix(no_download):
    with pytest.raises(UserError) as info:
        StanzaParser()
    assert "stanza English models are not available" in str(info.value)
    assert FIX in str(info.value) and "stanza.download('en')" in FIX
    assert no_download == []


@pytest.mark.skipif(_stanza_models_installed(), reason="stanza English models are installed here")
def test_cli_stanza_without_models_is_a_clean_error(no_download):
    result = CliRunner().invoke(app, ["explain", "--parser", "stanza", "No pneumothorax."])
    assert result.exit_code == 2
    assert "stanza.download" in result.output and "Traceback" not in result.output
    assert no_download == []
