"""Graph repairs (cxrlabel/en/repair.py): side words read as verbs and sentence-initial participles are made
modifiers of the finding once, for both parsers, so every ordinary rule then applies; clause boundaries end a
cue's scope."""

import pytest
from stanza.utils.conll import CoNLL

from cxrlabel.en.graph import build_graph
from cxrlabel.en.parse_stanza import sentences_from_document
from cxrlabel.types import Report, State

# The misreadings as stanza (UD) would give them: "Left" a verb with the finding as object and the clause the
# passive subject of "seen"; "Cleared" a proper noun subject of the verb "left"; "Resolved" an imperative.
MISPARSED_UD = """# sent_id = left_not_seen
# text = Left pleural effusion is not seen.
1	Left	leave	VERB	VBD	_	6	csubj:pass	_	_
2	pleural	pleural	ADJ	JJ	_	3	amod	_	_
3	effusion	effusion	NOUN	NN	_	1	obj	_	_
4	is	be	AUX	VBZ	_	6	aux:pass	_	_
5	not	not	PART	RB	_	6	advmod	_	_
6	seen	see	VERB	VBN	_	0	root	_	SpaceAfter=No
7	.	.	PUNCT	.	_	6	punct	_	_

# sent_id = cleared_left
# text = Cleared left basilar infiltrate.
1	Cleared	cleared	PROPN	NNP	_	2	nsubj	_	_
2	left	leave	VERB	VBD	_	0	root	_	_
3	basilar	basilar	ADJ	JJ	_	4	amod	_	_
4	infiltrate	infiltrate	NOUN	NN	_	2	obj	_	SpaceAfter=No
5	.	.	PUNCT	.	_	2	punct	_	_

# sent_id = resolved
# text = Resolved right lower lobe pneumonia.
1	Resolved	resolve	VERB	VBN	_	0	root	_	_
2	right	right	ADV	RB	_	3	advmod	_	_
3	lower	low	ADJ	JJR	_	5	amod	_	_
4	lobe	lobe	NOUN	NN	_	5	compound	_	_
5	pneumonia	pneumonia	NOUN	NN	_	1	obj	_	SpaceAfter=No
6	.	.	PUNCT	.	_	1	punct	_	_

"""


def edges(graph):
    return {(graph.nodes[h]["text"], label, graph.nodes[d]["text"])
            for h, d, label in graph.edges(data="label") if label != "punct"}


@pytest.fixture(scope="module")
def ud_graphs():
    document = CoNLL.conll2doc(input_str=MISPARSED_UD)
    ids = [sentence.sent_id for sentence in document.sentences]
    return {key: build_graph(s) for key, s in zip(ids, sentences_from_document(document), strict=True)}


def test_side_word_verb_repaired_in_ud(ud_graphs):
    assert edges(ud_graphs["left_not_seen"]) == {
        ("effusion", "amod", "Left"), ("effusion", "amod", "pleural"), ("seen", "nsubjpass", "effusion"),
        ("seen", "auxpass", "is"), ("seen", "neg", "not")}
    assert edges(ud_graphs["cleared_left"]) == {
        ("infiltrate", "amod", "Cleared"), ("infiltrate", "amod", "left"), ("infiltrate", "amod", "basilar")}
    assert ("pneumonia", "amod", "Resolved") in edges(ud_graphs["resolved"])
    assert not any(label == "dobj" for _, label, _ in edges(ud_graphs["resolved"]))


def test_same_repaired_graph_from_spacy(ud_graphs, spacy_parser):
    for key in ("left_not_seen", "cleared_left"):
        text = ud_graphs[key].graph["text"]
        assert edges(build_graph(spacy_parser.parse([text])[0])) == edges(ud_graphs[key]), key


@pytest.fixture(scope="module")
def labeler(en_labeler):
    return en_labeler  # the session's chestxray14 spaCy labeler (conftest.py), loaded once


# Paraphrases of each misread family: the side word after a hedge / size word / participle, before a negated,
# excluded or resolved predicate; sentence-initial participles; the issue's hand-tried sentences.
@pytest.mark.parametrize(("text", "label", "state"), [
    ("Left pleural effusion is not seen.", "Effusion", State.NEGATIVE),
    ("Left pleural effusion has resolved.", "Effusion", State.NEGATIVE),
    ("Right pneumothorax is no longer seen.", "Pneumothorax", State.NEGATIVE),
    ("Left lower lobe infiltrate cannot be ruled out.", "Infiltration", State.UNCERTAIN),
    ("Possible right pleural effusion.", "Effusion", State.UNCERTAIN),
    ("Decreased left pleural effusion.", "Effusion", State.POSITIVE),
    ("Right pleural effusion is no longer present.", "Effusion", State.NEGATIVE),
    ("Left basilar atelectasis has cleared.", "Atelectasis", State.NEGATIVE),
    ("Small left pleural effusion is not excluded.", "Effusion", State.UNCERTAIN),
    ("Right lower lobe pneumonia cannot be excluded.", "Pneumonia", State.UNCERTAIN),
    ("Possible left lower lobe infiltrate.", "Infiltration", State.UNCERTAIN),
    ("Questionable right upper lobe nodule.", "Nodule", State.UNCERTAIN),
    ("Probable left lower lobe pneumonia.", "Pneumonia", State.POSITIVE),
    ("Small left pleural effusion.", "Effusion", State.POSITIVE),
    ("Dense left lower lobe nodule suggests a previous granulomatous process.", "Nodule", State.POSITIVE),
    ("Cleared left basilar infiltrate.", "Infiltration", State.NEGATIVE),
    ("Resolved right middle lobe pneumonia.", "Pneumonia", State.NEGATIVE),
    ("Resolving left lower lobe pneumonia.", "Pneumonia", State.POSITIVE),
    ("Increased left lower lobe atelectasis.", "Atelectasis", State.POSITIVE),
    ("Previously seen left pleural effusion is no longer visible.", "Effusion", State.NEGATIVE),
    ("Previously described right lower lobe nodule is no longer seen.", "Nodule", State.NEGATIVE),
    ("There is interval resolution of the previously described left lower lobe pneumonia.", "Pneumonia",
     State.NEGATIVE),
])
def test_repaired_paraphrases(labeler, text, label, state):
    assert labeler.label_batch([Report("r", "", {"findings": text})])[0].labels.get(label) == state


@pytest.mark.parametrize(("text", "expected"), [
    ("No pneumothorax, but a small left effusion cannot be excluded.",
     {"Pneumothorax": State.NEGATIVE, "Effusion": State.UNCERTAIN}),
    ("Emphysema, however no acute cardiopulmonary finding.", {"Emphysema": State.POSITIVE}),
    ("Left lower lobe atelectasis, otherwise no acute cardiopulmonary disease.", {"Atelectasis": State.POSITIVE}),
    ("Mild scarring; no pleural effusion.", {"Fibrosis": None, "Effusion": State.NEGATIVE}),
    ("The lungs are otherwise clear of pleural effusion.", {"Effusion": State.NEGATIVE}),
])
def test_cue_scope_ends_at_clause_boundary(labeler, text, expected):
    labels = labeler.label_batch([Report("r", "", {"findings": text})])[0].labels
    assert {name: labels.get(name) for name in expected} == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("No pneumothorax, but a small left effusion cannot be excluded.",
     {"Pneumothorax": State.NEGATIVE, "Effusion": State.UNCERTAIN}),
    ("Previously seen left pleural effusion is no longer visible.", {"Effusion": State.NEGATIVE}),
    ("Rule out pneumonia.", {"Pneumonia": State.UNCERTAIN}),
    ("Cleared left basilar infiltrate.", {"Infiltration": State.NEGATIVE}),
])
def test_hand_tried_sentences_of_issue_11(labeler, text, expected):
    labels = labeler.label_batch([Report("r", "", {"findings": text})])[0].labels
    assert {name: labels.get(name) for name in expected} == expected
