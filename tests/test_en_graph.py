"""The canonical graph built from spaCy parses of OpenI sentences."""

import pytest

from cxrlabel.en.graph import build_graph, edge_list
from cxrlabel.en.parsing import ParsedSentence, ParsedToken


@pytest.fixture(scope="module")
def graph_of(spacy_parser):
    def build(sentence):
        return build_graph(spacy_parser.parse([sentence])[0])

    return build


def edges(graph):
    """(head word, label, dependent word) without token indices, punctuation left out."""
    return {(graph.nodes[h]["text"], label, graph.nodes[d]["text"])
            for h, d, label in graph.edges(data="label") if label != "punct"}


def test_nodes_carry_token_attributes(graph_of):
    sentence = "There is no evidence of pneumothorax."
    graph = graph_of(sentence)
    assert graph.graph["text"] == sentence
    node = next(n for n, a in graph.nodes(data=True) if a["text"] == "pneumothorax")
    attributes = graph.nodes[node]
    assert attributes["lemma"] == "pneumothorax" and attributes["pos"] == "NOUN"
    assert sentence[attributes["start"]:attributes["end"]] == "pneumothorax"


def test_prepositions_collapsed_and_conjuncts_propagated(graph_of):
    found = edges(graph_of("The lungs are clear of focal airspace disease, pneumothorax, or pleural effusion."))
    for item in ("disease", "pneumothorax", "effusion"):
        assert ("clear", "prep_of", item) in found
    assert ("disease", "conj_or", "pneumothorax") in found
    assert ("disease", "conj_or", "effusion") in found
    assert not any(label in ("prep", "pobj", "case", "conj", "cc") for _, label, _ in found)
    assert not any("of" in (head, dependent) for head, _, dependent in found)  # preposition left unattached


def test_prep_without_and_evidence_chain(graph_of):
    found = edges(graph_of("The lungs are normally inflated without evidence of focal airspace disease, pleural "
                           "effusion, or pneumothorax."))
    assert ("inflated", "prep_without", "evidence") in found
    assert {("evidence", "prep_of", x) for x in ("disease", "effusion", "pneumothorax")} <= found


def test_negation_edges(graph_of):
    assert ("pneumothorax", "neg", "no") in edges(graph_of("There is no pneumothorax."))
    assert ("seen", "neg", "not") in edges(graph_of("Pneumothorax is not seen."))
    found = edges(graph_of("No focal consolidation, pleural effusion, or pneumothorax."))
    assert ("consolidation", "neg", "No") in found
    assert {("consolidation", "conj_or", "effusion"), ("consolidation", "conj_or", "pneumothorax")} <= found


def test_copula_reshaped_and_existential_subject(graph_of):
    assert edges(graph_of("Lungs are clear.")) == {("clear", "cop", "are"), ("clear", "nsubj", "Lungs")}
    found = edges(graph_of("The heart is normal in size."))
    assert {("normal", "cop", "is"), ("normal", "nsubj", "heart"), ("normal", "prep_in", "size")} <= found
    found = edges(graph_of("There is a small right pleural effusion."))
    assert {("is", "expl", "There"), ("is", "nsubj", "effusion")} <= found
    assert not any(label in ("attr", "acomp") for _, label, _ in found)


def test_and_coordination_copies_subject_edge(graph_of):
    found = edges(graph_of("Heart size and mediastinal contours are within normal limits."))
    assert {("are", "nsubj", "size"), ("are", "nsubj", "contours"), ("size", "conj_and", "contours")} <= found


def test_edge_list_is_sorted_with_indices(graph_of):
    listed = edge_list(graph_of("No pneumothorax."))
    assert listed == sorted(listed)
    assert ("pneumothorax-1", "neg", "No-0") in listed


def test_hand_built_clear_parse():
    """The Clear-style reshaping on a parse given by hand (no parser involved)."""
    words = [("Lungs", "lung", "NOUN", "nsubj", 1), ("are", "be", "AUX", "root", -1),
             ("free", "free", "ADJ", "acomp", 1), ("of", "of", "ADP", "prep", 2),
             ("effusion", "effusion", "NOUN", "pobj", 3), (".", ".", "PUNCT", "punct", 1)]
    text = "Lungs are free of effusion."
    tokens, cursor = [], 0
    for i, (word, lemma, pos, dep, head) in enumerate(words):
        start = text.index(word, cursor)
        cursor = start + len(word)
        tokens.append(ParsedToken(i, word, lemma, pos, dep, head, start, cursor))
    graph = build_graph(ParsedSentence(text, tuple(tokens), "clear"))
    assert edges(graph) == {("free", "cop", "are"), ("free", "nsubj", "Lungs"), ("free", "prep_of", "effusion")}
