"""The canonical dependency graph: one relation scheme for every parser backend.

Scheme (documented in rules/README.md): Stanford-style labels on a networkx DiGraph whose nodes are
token indices (attributes text, lemma, pos, start, end) and edges run head → dependent with a
`label`. Prepositions are collapsed into the label (`prep_of`, `prep_without`), the copula is a
dependent of its predicate (`cop`), negation words are `neg`, and coordination is flattened:
the first conjunct links to every other with `conj_<and|or|nor|but>`, and each incoming edge of
the first conjunct is copied to every conjunct (CCProcessed-style propagation).
"""

from __future__ import annotations

import networkx as nx

from cxrlabel.en.parsing import ParsedSentence
from cxrlabel.en.repair import repair_graph

NEGATION_WORDS = {"no", "not", "n't", "never", "neither", "nor", "without"}
# Backend labels → canonical labels (prepositions, conjunctions and copulas are handled apart).
LABELS = {
    "obj": "dobj",
    "nsubj:pass": "nsubjpass",
    "csubj:pass": "csubjpass",
    "aux:pass": "auxpass",
    "acl:relcl": "relcl",
    "compound:prt": "prt",
    "nmod:poss": "poss",
    "obl:npmod": "npadvmod",
    "nmod:npmod": "npadvmod",
    "obl:tmod": "npadvmod",
    "nmod:tmod": "npadvmod",
    "det:predet": "predet",
    "nummod": "nummod",
    "attr": "attr",
    "oprd": "xcomp",
    "nmod": "nmod",
    "obl": "nmod",
}
PREPOSITION_ATTACHMENTS = {"nmod", "obl", "acl", "advcl"}
# words that make a contrastive multi-word preposition: "rather than" → prep_rather_than, "instead of" → prep_instead_of
CONTRAST_WORDS = {"rather", "instead"}
COORDINATORS = {"and", "or", "nor", "but"}
# Words and marks that end a cue's scope (ConText-style terminators): "No pneumothorax, but an effusion cannot be
# excluded", "heart normal; no effusion". A rule's cue must lie in the finding's clause.
CLAUSE_BREAK_LEMMAS = {"but", "however", "although", "though", "whereas", "except", "nevertheless"}
CLAUSE_BREAK_MARKS = {";"}


def build_graph(parsed: ParsedSentence) -> nx.DiGraph:
    """Build the canonical graph of one parsed sentence."""
    graph = nx.DiGraph(text=parsed.text)
    clause = 0
    for index, token in enumerate(parsed.tokens):
        if index and _breaks_clause(parsed.tokens, index):
            clause += 1
        graph.add_node(token.i, text=token.text, lemma=token.lemma, pos=token.pos, start=token.start,
                       end=token.end, clause=clause)
    heads = {t.i: t.head for t in parsed.tokens}
    deps = {t.i: t.dep.lower() for t in parsed.tokens}
    if parsed.scheme == "clear":
        _clear_to_ud_shape(parsed, heads, deps)
    for token in parsed.tokens:
        head = heads[token.i]
        if head >= 0:
            graph.add_edge(head, token.i, label=deps[token.i])
    _normalise_labels(graph)
    _collapse_prepositions(graph)
    repair_graph(graph)
    _flatten_coordination(graph)
    return graph


def _breaks_clause(tokens: tuple, index: int) -> bool:
    """Whether tokens[index] starts a new clause. "yet" only as a conjunction ("not yet" is no boundary);
    "otherwise" only after punctuation or before a negation ("atelectasis, otherwise no acute disease"), not
    in "the lungs are otherwise clear"."""
    token = tokens[index]
    if token.lemma in CLAUSE_BREAK_LEMMAS or token.text in CLAUSE_BREAK_MARKS:
        return True
    if token.lemma == "yet":
        return token.pos == "CCONJ"
    if token.lemma == "otherwise":
        following = tokens[index + 1].lemma if index + 1 < len(tokens) else ""
        return tokens[index - 1].pos == "PUNCT" or following in NEGATION_WORDS | {"negative", "unremarkable"}
    return False


def _clear_to_ud_shape(parsed: ParsedSentence, heads: dict[int, int], deps: dict[int, str]) -> None:
    """Reshape spaCy's analysis where UD differs in structure, not just in label.

    - `be` with an adjective/noun predicate ("lungs are clear"): the predicate heads the clause and
      `be` becomes its `cop` (UD's copula analysis).
    - Existential "there is X": X is the subject (UD), not spaCy's `attr`.
    - A preposition's object (`pobj`/`pcomp`) is rewritten as UD's `nmod` + `case`.
    """
    children: dict[int, list[int]] = {}
    for i, head in heads.items():
        children.setdefault(head, []).append(i)
    for token in parsed.tokens:
        if token.lemma != "be":
            continue
        kids = children.get(token.i, [])
        has_expl = any(deps[k] == "expl" for k in kids)
        predicates = [k for k in kids if deps[k] in ("acomp", "attr")]
        if has_expl:
            for k in predicates:
                deps[k] = "nsubj"
            continue
        if not predicates:
            continue
        predicate = predicates[0]
        heads[predicate], deps[predicate] = heads[token.i], deps[token.i]
        for k in kids:
            if k != predicate:
                heads[k] = predicate
        heads[token.i], deps[token.i] = predicate, "cop"
    for token in parsed.tokens:
        if deps[token.i] in ("pobj", "pcomp"):
            preposition = heads[token.i]
            # a preposition also heads a pobj when the parser made it a conjunct ("clear, and without X")
            if preposition < 0 or heads[preposition] < 0:
                # a preposition heading the whole fragment ("without focal consolidation.") keeps the
                # object as its own dependent, labelled like a collapsed preposition
                deps[token.i] = f"prep_{parsed.tokens[preposition].lemma}" if preposition >= 0 else deps[token.i]
            elif deps[preposition] == "prep" or parsed.tokens[preposition].pos == "ADP":
                heads[token.i], deps[token.i] = heads[preposition], "nmod"
                heads[preposition], deps[preposition] = token.i, "case"


def _normalise_labels(graph: nx.DiGraph) -> None:
    for _, dependent, data in graph.edges(data=True):
        label = data["label"]
        label = LABELS.get(label, label)
        lemma = graph.nodes[dependent]["lemma"]
        if label in ("det", "advmod", "neg", "cc:preconj", "preconj") and lemma in NEGATION_WORDS:
            label = "neg"
        elif label == "acomp":
            label = "xcomp"
        data["label"] = label


def _collapse_prepositions(graph: nx.DiGraph) -> None:
    """X -nmod-> Y -case-> of  ⇒  X -prep_of-> Y (the preposition node is left unattached)."""
    for node in list(graph.nodes):
        cases = [c for c in graph.successors(node) if graph.edges[node, c]["label"] == "case"]
        if not cases:
            continue
        words = sorted(cases + [w for c in cases for w, label in graph.succ[c].items()
                                if label["label"] in ("advmod", "fixed") and graph.nodes[w]["lemma"] in CONTRAST_WORDS])
        preposition = "_".join(graph.nodes[w]["lemma"] for w in words)
        for case in cases:
            graph.remove_edge(node, case)
        if graph.in_degree(node) == 0:
            # a fragment headed by the preposition's object ("without focal consolidation."): the
            # preposition heads it, as in the spaCy analysis
            graph.add_edge(min(cases), node, label=f"prep_{preposition}")
        for head in list(graph.predecessors(node)):
            if graph.edges[head, node]["label"] in PREPOSITION_ATTACHMENTS | {"prep"}:
                graph.edges[head, node]["label"] = f"prep_{preposition}"


def _conjunct_groups(graph: nx.DiGraph) -> list[list[int]]:
    """Groups of coordinated nodes, first conjunct first (chains as spaCy builds them included)."""
    conj_heads = {}
    for head, dependent, data in graph.edges(data=True):
        if data["label"] == "conj":
            conj_heads[dependent] = head
    groups: dict[int, list[int]] = {}
    for dependent in sorted(conj_heads):
        first = dependent
        while first in conj_heads:
            first = conj_heads[first]
        groups.setdefault(first, [first]).append(dependent)
    return list(groups.values())


def _flatten_coordination(graph: nx.DiGraph) -> None:
    for group in _conjunct_groups(graph):
        first, others = group[0], group[1:]
        members = set(group)
        coordinator = "and"
        for member in group:
            for child in list(graph.successors(member)):
                label = graph.edges[member, child]["label"]
                if label == "cc":
                    lemma = graph.nodes[child]["lemma"]
                    if lemma in COORDINATORS:
                        coordinator = lemma
                    graph.remove_edge(member, child)
                elif label == "conj" and child in members:
                    graph.remove_edge(member, child)
                elif label == "neg" and graph.nodes[child]["lemma"] == "nor":
                    coordinator = "nor"
        for other in others:
            graph.add_edge(first, other, label=f"conj_{coordinator}")
        incoming = [(h, d["label"]) for h, _, d in graph.in_edges(first, data=True) if h not in members]
        for other in others:
            for head, label in incoming:
                if not graph.has_edge(head, other):
                    graph.add_edge(head, other, label=label)


def edge_list(graph: nx.DiGraph) -> list[tuple[str, str, str]]:
    """(head text, label, dependent text) triples, sorted — for display and comparison."""
    return sorted(
        (f"{graph.nodes[h]['text']}-{h}", data["label"], f"{graph.nodes[d]['text']}-{d}")
        for h, d, data in graph.edges(data=True)
    )
