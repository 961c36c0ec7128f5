"""Report text normalisation, applied once by the readers so that every stage sees the same clean text.

Unicode NFKC (full-width `Ｎｏ` → `No`, ligatures, non-breaking spaces); ANSI escape sequences
(`ESC[31m`), control characters other than tab / newline / carriage return, and format characters
(Unicode category Cf: zero-width space and joiners, soft hyphen, BOM, direction marks) are removed,
so "No\\x00 pleural effusion" and "effu\\u00adsion" read as "No pleural effusion" and "effusion".
Line / paragraph separators (U+2028, U+2029, NEL) become newlines. Circled list numbers (① … ⑳, ❶ … ➓)
are kept: NFKC would turn them into bare digits glued to the text ("①未见积液②心影增大" → "1未见积液2心影增大"),
and the Chinese normaliser reads them as sentence breaks. Evidence spans are computed on the cleaned text,
so they slice it exactly.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

# CSI (ESC [ params final), OSC (ESC ] ... BEL or ESC \), and two-character escapes (ESC + one of @-Z \ ] ^ _)
ANSI_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\^_]")
ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
LINE_SEPARATOR = re.compile("[\u2028\u2029\x85]")
LINE_SEPARATORS = str.maketrans({"\u2028": "\n", "\u2029": "\n", "\x85": "\n"})
CIRCLED_NUMBER = re.compile("[\u2460-\u2473\u2776-\u2793]")
# Unicode places format characters only in planes 0, 1 and 14 (tags, variation selectors are Mn).
FORMAT_PLANES = (range(0x20000), range(0xE0000, 0xF0000))


@cache
def _dropped_characters() -> re.Pattern:
    """Control (Cc) and format (Cf) characters other than tab, newline and carriage return."""
    ranges: list[list[int]] = []
    for code in (code for plane in FORMAT_PLANES for code in plane):
        if unicodedata.category(chr(code)) in ("Cc", "Cf") and chr(code) not in "\t\n\r":
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    return re.compile("[" + "".join(f"{re.escape(chr(low))}-{re.escape(chr(high))}" for low, high in ranges) + "]+")


def clean_text(text: str) -> str:
    """The text with ANSI escapes, control and format characters removed and NFKC applied.

    Plain ASCII without control characters (almost every English report) is returned as it is.
    """
    if text.isascii() and not ASCII_CONTROL.search(text):
        return text
    if "\x1b" in text:
        text = ANSI_ESCAPE.sub("", text)
    if LINE_SEPARATOR.search(text):
        text = text.translate(LINE_SEPARATORS)
    dropped = _dropped_characters()
    if dropped.search(text):
        text = dropped.sub("", text)
    return text if unicodedata.is_normalized("NFKC", text) else _nfkc_keeping_circled_numbers(text)


def _nfkc_keeping_circled_numbers(text: str) -> str:
    pieces, start = [], 0
    for match in CIRCLED_NUMBER.finditer(text):
        pieces += [unicodedata.normalize("NFKC", text[start:match.start()]), match.group()]
        start = match.end()
    return "".join(pieces) + unicodedata.normalize("NFKC", text[start:])
