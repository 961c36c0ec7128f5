"""Detect the text encoding of a report file: UTF-8/16/32 by BOM or validity, else the CJK code page whose
own common repertoire explains the text, else a single-byte code page; never a guess that yields mojibake.

The CJK double-byte encodings overlap: Big5 bytes decode as GB18030 (and GB bytes often as Big5 or
EUC-KR) without any error, into other characters. Each code table, however, puts the characters its
writers use most in known rows (GB2312 level 1 and 2 hanzi, Big5 level-1 hanzi, JIS level-1 kanji and
kana, KS X 1001 hangul) and punctuation in the first rows; a wrong decoding lands on private-use code
points, kana, box drawing, bopomofo or rare hanzi instead. So each candidate that decodes the sample is
scored by the share of its non-ASCII characters that are in its own table's common rows, and the best
one must explain at least MIN_NATIVE_SHARE of them. charset_normalizer is not used for CJK: on short
reports (one diagnosis line) it picks Thai or Korean code pages for plain GB18030 Chinese.
"""

from __future__ import annotations

import codecs
import re
from collections import Counter
from dataclasses import dataclass

# candidate → (code table whose common rows count as native, lead bytes of those rows)
CJK_CANDIDATES: dict[str, tuple[str, frozenset[int]]] = {
    # GB2312 punctuation / full-width rows and both hanzi levels; traditional text in GBK is scored by Big5
    "gb18030": ("gb2312", frozenset({0xA1, 0xA2, 0xA3, *range(0xB0, 0xF8)})),
    # Big5 punctuation / full-width rows and both hanzi levels (not row A3: Greek and bopomofo)
    "big5": ("big5", frozenset({0xA1, 0xA2, *range(0xA4, 0xC7), *range(0xC9, 0xFA)})),
    # JIS X 0208 punctuation, full-width, kana rows and the level-1 kanji (not half-width katakana)
    "shift_jis": ("shift_jis", frozenset({0x81, 0x82, 0x83, *range(0x88, 0x99)})),
    # KS X 1001 punctuation / full-width rows and the 2,350 hangul syllables (not hanja)
    "euc_kr": ("euc_kr", frozenset({0xA1, 0xA2, 0xA3, *range(0xB0, 0xC9)})),
}
# ① ② ... numbering: every table has it, in rows of its own (Big5 in its ETEN extension row C7)
ENCLOSED_NUMBERS = ("\u2460", "\u24ff")
MIN_NATIVE_SHARE = 0.9
# Languages the labelers read; text in another script's encoding goes to errors.csv.
FOREIGN = {"shift_jis": "Japanese (Shift-JIS)", "euc_kr": "Korean (EUC-KR)"}
BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# Share of non-ASCII bytes above which text is double-byte (CJK or binary), not a Latin code page.
DOUBLE_BYTE_SHARE = 0.2
ASCII_BYTES = bytes(range(0x80))
NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]{2}")


@dataclass(frozen=True)
class Detected:
    """The codec to read a file with; `problem`, when set, is why none of its records can be labelled."""

    encoding: str
    problem: str = ""


def _is_native(char: str, table: str, leads: frozenset[int]) -> bool:
    try:
        encoded = char.encode(table)
    except UnicodeEncodeError:
        return False
    return len(encoded) == 2 and encoded[0] in leads


def native_share(text: str, encoding: str) -> float:
    """Share of the non-ASCII characters of `text` in the common rows of `encoding`'s own code table."""
    table, leads = CJK_CANDIDATES[encoding]
    counts = {char: count for char, count in Counter(text).items() if char >= "\x80"}
    total = sum(counts.values())
    if not total:
        return 1.0
    native = sum(count for char, count in counts.items()
                 if _is_native(char, table, leads) or ENCLOSED_NUMBERS[0] <= char <= ENCLOSED_NUMBERS[1]
                 or (encoding == "gb18030" and _is_native(char, *CJK_CANDIDATES["big5"])))
    return native / total


def _decode_lines(lines: list[bytes], encoding: str) -> tuple[int, str]:
    """(lines that do not decode, the text of those that do)."""
    bad, good = 0, []
    for line in lines:
        try:
            good.append(line.decode(encoding))
        except UnicodeDecodeError:
            bad += 1
    return bad, "\n".join(good)


def _korean_spacing(text: str) -> bool:
    """Korean separates words by spaces: hangul, space, hangul; Chinese writes hanzi without spaces."""
    return any("\uac00" <= a <= "\ud7a3" and b == " " and "\uac00" <= c <= "\ud7a3"
               for a, b, c in zip(text, text[1:], text[2:], strict=False))


def detect_encoding(sample: bytes, truncated: bool = False) -> Detected:
    """The encoding of a byte sample (a whole small file or the first MiB of a table).

    A few corrupt lines (at most 1 %) do not change the verdict: those records decode with U+FFFD and
    go to errors.csv on their own.
    """
    for bom, name in BOMS:
        if sample.startswith(bom):
            return Detected(name)
    if sample.isascii():
        return Detected("utf-8")
    lines = sample.splitlines()
    if truncated and len(lines) > 1:
        lines.pop()  # the last line may end inside a multibyte character
    tolerated = max(1, len(lines) // 100)

    def fits(encoding: str) -> tuple[bool, str]:
        bad, text = _decode_lines(lines, encoding)
        return bad == 0 or (bad <= tolerated and not text.isascii()), text

    if fits("utf-8")[0]:
        return Detected("utf-8")
    scores: dict[str, tuple[float, str]] = {}
    for encoding in CJK_CANDIDATES:
        ok, text = fits(encoding)
        # CJK text has runs of double-byte characters; a Latin-1 "é" before a letter decodes to one hanzi alone
        if ok and NON_ASCII_RUN.search(text):
            scores[encoding] = (native_share(text, encoding), text)
    if scores:
        best = max(scores, key=lambda name: scores[name][0])  # dict order breaks ties: GB18030 first
        if ("euc_kr" in scores and best != "euc_kr" and scores["euc_kr"][0] >= scores[best][0]
                and _korean_spacing(scores["euc_kr"][1])):
            best = "euc_kr"
        if scores[best][0] >= MIN_NATIVE_SHARE:
            if best in FOREIGN:
                return Detected(best, f"{FOREIGN[best]} text: only English and Chinese reports are labelled")
            return Detected(best)
    non_ascii = len(sample.translate(None, ASCII_BYTES)) / len(sample)
    if non_ascii >= DOUBLE_BYTE_SHARE:
        return Detected("gb18030", "undecodable bytes: not UTF-8, and no CJK encoding (GB18030, Big5, "
                        "Shift-JIS, EUC-KR) explains the text")
    from charset_normalizer import from_bytes

    guess = from_bytes(sample, cp_exclusion=["big5", "gb18030", "gb2312", "gbk", "cp950", "cp936", "shift_jis",
                                             "cp932", "euc_kr", "cp949", "euc_jp", "johab", "hz"]).best()
    return Detected(guess.encoding if guess else "utf-8")
