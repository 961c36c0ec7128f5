"""Graph repairs: systematic misparses of report language fixed once in the canonical graph.

Small parsers trained on news text read report noun phrases as clauses. Two readings recur and would
otherwise need a copy of every negation / uncertainty rule:

- a side word read as a verb taking the finding as object ("Left pleural effusion is not seen" →
  `Left -dobj-> effusion`, the clause the subject of "seen"; "Possible left lower lobe infiltrate" →
  `Possible <-nsubj- left -dobj-> infiltrate`): the side word becomes the finding's modifier, the finding
  takes the side word's place in the sentence, words before the side word become modifiers of the finding,
  and a predicate coordinated with or complementing the side word gets the finding as its subject;
- a sentence-initial participle read as a verb taking the finding as object ("Resolved right lower lobe
  pneumonia", "Cleared infiltrate"): the participle becomes the finding's modifier.

Both backends are repaired here, after their labels are made canonical, so spaCy and stanza give the same
graph for the same misreading.
"""

from __future__ import annotations

import networkx as nx

SIDE_WORDS = {"left", "right"}
NOUNS = {"NOUN", "PROPN"}
SUBJECTS = {"nsubj", "nsubjpass"}
# the side word's clausal subject relation, as the finding's subject relation
SUBJECT_OF_CLAUSE = {"csubj": "nsubj", "csubjpass": "nsubjpass"}
# a predicate hanging on the side word that belongs to the finding ("left ... is not excluded", "has resolved")
PREDICATE_LINKS = {"conj", "ccomp", "xcomp", "advcl"}
# words before the side word that modify the finding ("Small", "Possible", "Cleared", "Probable")
PRE_MODIFIER_LINKS = {"nsubj", "csubj", "npadvmod", "advmod", "amod", "dep", "compound", "det", "neg", "nmod"}
# how a parser hangs the finding on a sentence-initial participle (advcl / ccomp: after the side-word repair)
OBJECT_LIKE = {"dobj", "xcomp", "advcl", "ccomp"}
# a predicate a sentence-initial participle carries after its object ("Previously seen X is no longer visible")
PARTICIPLE_PREDICATES = {"auxpass", "acomp", "xcomp", "ccomp", "conj", "advcl"}


def repair_graph(graph: nx.DiGraph) -> None:
    """Apply every repair in place (called by build_graph before coordination is flattened)."""
    for node in sorted(graph.nodes):
        attrs = graph.nodes[node]
        if attrs["text"].lower() in SIDE_WORDS and attrs["pos"] == "VERB":
            _side_word_as_modifier(graph, node)
    _initial_participle_as_modifier(graph)
    for node in sorted(graph.nodes):
        _reduced_relative(graph, node)


def _incoming(graph: nx.DiGraph, node: int) -> tuple[int, str] | None:
    for head, _, label in graph.in_edges(node, data="label"):
        return head, label
    return None


def _move(graph: nx.DiGraph, child: int, old_head: int, new_head: int, label: str) -> None:
    graph.remove_edge(old_head, child)
    graph.add_edge(new_head, child, label=label)


def _as_modifier(graph: nx.DiGraph, word: int, noun: int) -> None:
    """Hang `word` under `noun` as an adjectival (or adverbial / determiner / negation) modifier."""
    pos = graph.nodes[word]["pos"]
    if graph.has_edge(noun, word):
        return
    label = {"ADV": "advmod", "DET": "det", "PART": "neg"}.get(pos, "amod")
    if label == "neg" and graph.nodes[word]["lemma"] not in ("no", "not"):
        label = "advmod"
    graph.add_edge(noun, word, label=label)


def _side_word_as_modifier(graph: nx.DiGraph, side: int) -> None:
    labels = {child: data["label"] for child, data in graph.succ[side].items()}
    noun = next((c for c, label in sorted(labels.items()) if label == "dobj" and c > side
                 and graph.nodes[c]["pos"] in NOUNS), None)
    predicate = None
    if noun is None:  # "Left lower lobe consolidation has resolved": the finding is the predicate's subject
        for child, label in sorted(labels.items()):
            subjects = [s for s, d in graph.succ[child].items() if d["label"] in SUBJECTS and s > side]
            if label in PREDICATE_LINKS and subjects:
                predicate, noun = child, subjects[0]
                break
    if noun is None:
        return
    if predicate is None:  # "Small left pleural effusion is not excluded": a subjectless predicate after it
        predicate = next((c for c, label in sorted(labels.items()) if label in PREDICATE_LINKS and c > noun
                          and not any(d["label"] in SUBJECTS for d in graph.succ[c].values())), None)
        if predicate is not None:
            passive = any(d["label"] == "auxpass" for d in graph.succ[predicate].values())
            graph.add_edge(predicate, noun, label="nsubjpass" if passive else "nsubj")
            graph.remove_edge(side, noun)
    incoming = _incoming(graph, side)
    top = predicate if predicate is not None else noun
    if graph.has_edge(side, top):
        graph.remove_edge(side, top)
    if incoming is not None:
        head, label = incoming
        graph.remove_edge(head, side)
        if top == noun:
            # a clause before its verb is the verb's subject ("Dense left lower lobe nodule suggests ...")
            label = SUBJECT_OF_CLAUSE.get(label, "nsubj" if label in ("ccomp", "xcomp") and side < head else label)
            label = _preposition_through_participle(graph, head, side, noun) or label
        graph.add_edge(head, top, label=label)
    for child, label in labels.items():
        if child in (noun, predicate) or not graph.has_edge(side, child):
            continue
        graph.remove_edge(side, child)
        if child < side and label in PRE_MODIFIER_LINKS:
            _as_modifier(graph, child, noun)
        else:
            graph.add_edge(top, child, label=label)
    graph.add_edge(noun, side, label="amod")
    graph.nodes[side].update(pos="ADJ", lemma=graph.nodes[side]["text"].lower())


def _preposition_through_participle(graph: nx.DiGraph, head: int, side: int, noun: int) -> str | None:
    """"resolution of the previously described left ... pneumonia": the parser made the participle the
    preposition's object and the side word a clause on the head noun. The finding takes the preposition;
    the participle (and its determiner) become the finding's modifiers. Returns the preposition label."""
    for participle, data in list(graph.succ[head].items()):
        if (data["label"].startswith("prep_") and head < participle < side and graph.nodes[participle]["pos"] == "VERB"
                and not any(d["label"] == "dobj" for d in graph.succ[participle].values())):
            graph.remove_edge(head, participle)
            graph.add_edge(noun, participle, label="amod")
            for child, child_data in list(graph.succ[participle].items()):
                if child_data["label"] == "det":
                    _move(graph, child, participle, noun, "det")
            return data["label"]
    return None


def _initial_participle_as_modifier(graph: nx.DiGraph) -> None:
    """"Resolved right lower lobe pneumonia.", "Previously seen effusion is no longer visible.": a
    sentence-initial participle (after adverbs) with the finding as object and no subject or auxiliary is
    the finding's adjective, not an imperative; a predicate the parser hung on it after the finding becomes
    the finding's predicate."""
    words = [n for n in sorted(graph.nodes) if graph.nodes[n]["pos"] not in ("PUNCT", "ADV")]
    if not words:
        return
    first = words[0]
    attrs = graph.nodes[first]
    word = attrs["text"].lower()
    inflected = word not in (attrs["lemma"], attrs["lemma"] + "s") and not word.endswith("ing")
    if attrs["pos"] != "VERB" or not inflected or graph.in_degree(first):
        return
    children = {child: data["label"] for child, data in graph.succ[first].items()}
    if any(label in SUBJECTS or (label in ("aux", "auxpass") and graph.nodes[c]["pos"] == "AUX")
           for c, label in children.items()):
        return
    noun = next((c for c, label in sorted(children.items()) if label in OBJECT_LIKE and c > first
                 and graph.nodes[c]["pos"] in NOUNS), None)
    if noun is None:
        return
    predicate = next((c for c, label in sorted(children.items()) if c > noun and label in PARTICIPLE_PREDICATES
                      and graph.nodes[c]["pos"] in ("ADJ", "VERB")), None)
    top = noun if predicate is None else predicate
    graph.remove_edge(first, noun)
    if predicate is not None:
        graph.remove_edge(first, predicate)
        passive = any(d["label"] == "auxpass" for d in graph.succ[predicate].values())
        graph.add_edge(predicate, noun, label="nsubjpass" if passive else "nsubj")
    for child, label in children.items():
        if child not in (noun, predicate) and child > first:
            _move(graph, child, first, top, label)
    graph.add_edge(noun, first, label="amod")


def _reduced_relative(graph: nx.DiGraph, participle: int) -> None:
    """"The nodule described on the outside CT is not seen.": the parser read the participle as the main verb
    (`described -nsubj-> nodule`) and the real predicate as its conjunct. The participle becomes a clause on
    the finding (`acl`) and the predicate, which has an auxiliary but no subject, takes the finding as subject."""
    attrs = graph.nodes[participle]
    word = attrs["text"].lower()
    if attrs["pos"] != "VERB" or word in (attrs["lemma"], attrs["lemma"] + "s") or word.endswith("ing"):
        return
    children = {child: data["label"] for child, data in graph.succ[participle].items()}
    if any(label in ("aux", "auxpass") for label in children.values()):
        return
    subject = next((c for c, label in children.items() if label == "nsubj" and c < participle
                    and graph.nodes[c]["pos"] in NOUNS), None)
    predicate = next((c for c, label in sorted(children.items()) if label in ("conj", "ccomp") and c > participle
                      and not any(d["label"] in SUBJECTS for d in graph.succ[c].values())
                      and any(d["label"] in ("aux", "auxpass", "cop") and a < c
                              for a, d in graph.succ[c].items())), None)
    if subject is None or predicate is None:
        return
    if any(d["label"] == "cc" for d in graph.succ[predicate].values()) or any(
            label == "cc" for label in children.values()):
        return  # a real coordination ("X is described and is not seen" keeps its reading)
    incoming = _incoming(graph, participle)
    graph.remove_edge(participle, subject)
    graph.remove_edge(participle, predicate)
    if incoming is not None:
        graph.remove_edge(incoming[0], participle)
        graph.add_edge(incoming[0], predicate, label=incoming[1])
    passive = any(d["label"] == "auxpass" for d in graph.succ[predicate].values())
    graph.add_edge(predicate, subject, label="nsubjpass" if passive else "nsubj")
    graph.add_edge(subject, participle, label="acl")
