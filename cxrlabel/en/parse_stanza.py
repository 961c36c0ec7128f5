"""Stanza backend (Universal Dependencies). Needs the user's own stanza English models."""

from __future__ import annotations

from cxrlabel.en.parsing import ParsedSentence, ParsedToken
from cxrlabel.errors import UserError

FIX = "python -c \"import stanza; stanza.download('en')\" (needs network once)"


def sentences_from_document(document) -> list[ParsedSentence]:
    """Convert a stanza Document (from the neural pipeline or from CoNLL-U) into parse records.

    Each stanza sentence becomes one ParsedSentence; character offsets come from the document's
    start_char/end_char when present, else are found by scanning the sentence text.
    """
    parsed = []
    for sentence in document.sentences:
        words = sentence.words
        text = sentence.text or " ".join(w.text for w in words)
        base = words[0].start_char if words and words[0].start_char is not None else 0
        cursor = 0
        tokens = []
        for index, word in enumerate(words):
            if word.start_char is not None and word.end_char is not None:
                start, end = word.start_char - base, word.end_char - base
            else:
                start = text.find(word.text, cursor)
                start = cursor if start < 0 else start
                end = start + len(word.text)
            cursor = end
            tokens.append(
                ParsedToken(
                    i=index,
                    text=word.text,
                    lemma=(word.lemma or word.text).lower(),
                    pos=word.upos or "X",
                    dep=word.deprel or "dep",
                    head=word.head - 1 if word.head else -1,
                    start=start,
                    end=end,
                )
            )
        parsed.append(ParsedSentence(text, tuple(tokens), "ud"))
    return parsed


class StanzaParser:
    name = "stanza"

    def __init__(self, batch_size: int = 256):
        try:
            import stanza
        except ImportError as exc:
            raise UserError("stanza is not installed; run: pip install 'cxrlabel[stanza]'") from exc
        try:
            self.pipeline = stanza.Pipeline(
                "en",
                processors="tokenize,pos,lemma,depparse",
                tokenize_no_ssplit=True,
                download_method=None,
                logging_level="WARN",
                depparse_batch_size=batch_size,
            )
        except Exception as exc:  # stanza raises several types for missing resources
            raise UserError(f"stanza English models are not available ({exc.__class__.__name__}); run: {FIX}") from exc

    def parse(self, sentences: list[str]) -> list[ParsedSentence]:
        if not sentences:
            return []
        document = self.pipeline("\n\n".join(sentences))
        parsed = sentences_from_document(document)
        if len(parsed) != len(sentences):
            # One input sentence may be split by stanza; parse one by one to keep the alignment.
            parsed = [sentences_from_document(self.pipeline(s))[0] for s in sentences]
        return parsed
