"""Search text: folding, index tokens, the query language and highlighted snippets (pure, no database)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from orbitask.core.errors import InvalidInput

MAX_TOKEN = 60  # InnoDB's innodb_ft_max_token_size is 84; 60 leaves room for the "qq" prefix
MAX_TERMS = 16
MAX_PHRASE_TOKENS = 32  # a longer phrase matches on its first 32 tokens: the index holds them in the same order
ELLIPSIS = "…"

_MARKS = frozenset({"Mn", "Me"})
_FOLD_CACHE_LIMIT = 200_000  # distinct characters remembered; any text past that still folds, just slower


def _without_marks(text: str) -> str:
    return "".join(char for char in text if unicodedata.category(char) not in _MARKS)


def _fold_char(char: str) -> str:
    """One character folded: NFKD, combining marks dropped, casefolded."""
    return _without_marks(unicodedata.normalize("NFKD", char)).casefold()


class _FoldTable(dict[int, str]):
    """Code point -> folded text, computed on first sight; str.translate reads it."""

    def __missing__(self, code: int) -> str:
        folded = _fold_char(chr(code))
        if len(self) < _FOLD_CACHE_LIMIT:
            self[code] = folded
        return folded


# Latin-1 and Latin Extended, the bulk of real text, folded once at import.
_FOLD = _FoldTable({code: _fold_char(chr(code)) for code in range(0x250)})


def fold(text: str) -> str:
    """Text with accents and case folded: NFKD, combining marks dropped, casefolded ("Straße" -> "strasse")."""
    if text.isascii():
        return text.lower()
    return text.translate(_FOLD)


def fold_map(text: str) -> tuple[str, list[int]]:
    """`fold(text)` and, for each folded character, the index of the original character it came from."""
    pieces: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        folded = _FOLD[ord(char)]
        if folded:
            pieces.append(folded)
            origin.extend([index] * len(folded))
    return "".join(pieces), origin


# Scripts written without spaces between words: indexed as overlapping character pairs (bigrams).
_CJK_BLOCKS = (
    (0x1100, 0x11FF),  # Hangul Jamo (NFKD splits Hangul syllables into these)
    (0x3000, 0x30FF),  # CJK symbols that are letters (々, 〆, 〇), Hiragana, Katakana
    (0x3100, 0x31FF),  # Bopomofo, Hangul compatibility jamo, Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK Unified Ideographs Extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xA960, 0xA97F),  # Hangul Jamo Extended-A
    (0xAC00, 0xD7FF),  # Hangul syllables, Hangul Jamo Extended-B
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF00, 0xFFEF),  # halfwidth and fullwidth forms
    (0x1AFF0, 0x1B16F),  # Kana supplement and extensions
)
_CJK_PLANES = "\\U00020000-\\U0003ffff"  # the ideographic planes hold nothing but ideographs


def _class_body(codes: Iterable[int]) -> str:
    """Sorted code points as the inside of a regular-expression character class, consecutive ones as ranges."""
    parts: list[str] = []
    ordered = sorted(codes)
    start = 0
    while start < len(ordered):
        end = start
        while end + 1 < len(ordered) and ordered[end + 1] == ordered[end] + 1:
            end += 1
        parts.append(f"\\U{ordered[start]:08x}" + (f"-\\U{ordered[end]:08x}" if end > start else ""))
        start = end + 1
    return "".join(parts)


def _patterns() -> re.Pattern[str]:
    """One pattern for token runs: group 1 a CJK run, group 2 any other run of token characters."""
    cjk = {c for low, high in _CJK_BLOCKS for c in range(low, high + 1) if chr(c).isalnum()}
    # Spacing marks (category Mc) carry vowels in Indic scripts; as separators they would cut words into letters.
    spacing = {c for c in range(0x20000) if c not in cjk and unicodedata.category(chr(c)) == "Mc"}
    cjk_class = _class_body(cjk) + _CJK_PLANES
    mc_class = _class_body(spacing)
    word_char = f"(?:[^\\W{cjk_class}]|[{mc_class}])"
    first_char = f"(?:[^\\W_{cjk_class}]|[{mc_class}])"  # a run of underscores alone is no word
    return re.compile(f"([{cjk_class}]+)|(_*{first_char}{word_char}*)")


_RUN = _patterns()
# The same runs for ASCII text, which holds no CJK and no marks: most titles, tokenised five times faster.
_ASCII_RUN = re.compile(r"_*[a-z0-9]\w*", re.ASCII)


def _bigrams(run: str) -> list[str]:
    return [run[i : i + 2] for i in range(len(run) - 1)]


def index_tokens(text: str) -> list[str]:
    """The tokens stored for `text`: folded words (cut at 60), CJK runs as their bigrams plus their last character."""
    if text.isascii():
        words = _ASCII_RUN.findall(text.lower())
        return words if max(map(len, words), default=0) <= MAX_TOKEN else [word[:MAX_TOKEN] for word in words]
    tokens: list[str] = []
    for cjk, word in _RUN.findall(fold(text)):
        if word:
            tokens.append(word[:MAX_TOKEN])
        else:
            tokens.extend(_bigrams(cjk))
            tokens.append(cjk[-1])
    return tokens


@dataclass(frozen=True, slots=True)
class Term:
    """Tokens that must appear adjacent and in order; with `prefix`, the last one may be the start of a token."""

    tokens: tuple[str, ...]
    prefix: bool


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed search: every term must match."""

    terms: list[Term]


class QueryError(InvalidInput):
    """A search query that leaves nothing to look for."""

    type, title = "search-query-invalid", "Invalid search query"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# Straight, curly and low quotes all open or close a phrase (phones type curly ones); fullwidth folds to straight.
_QUOTES = re.compile("[\"\u201c\u201d\u201e]")


def _phrase(part: str) -> Term | None:
    """The term for quoted text: exact tokens laid out exactly as index_tokens stores them, so adjacency holds."""
    runs = _RUN.findall(part)
    tokens: list[str] = []
    for position, (cjk, word) in enumerate(runs):
        if word:
            tokens.append(word[:MAX_TOKEN])
            continue
        tokens.extend(_bigrams(cjk))
        # Stored text has the run's last character as its own token only where the run ends; inside the phrase the
        # run does end, at its end the stored run may go on.
        if position < len(runs) - 1 or len(cjk) == 1:
            tokens.append(cjk[-1])
    if not tokens:
        return None
    cjk, word = runs[-1]
    prefix = len(cjk) == 1  # a single CJK character at the end may start a longer stored pair
    if len(tokens) > MAX_PHRASE_TOKENS:
        tokens, prefix = tokens[:MAX_PHRASE_TOKENS], False
    return Term(tuple(tokens), prefix)


def _words(part: str) -> Iterator[Term]:
    """Terms for unquoted text: each word its own term, a prefix from two characters on; a CJK run one phrase."""
    for cjk, word in _RUN.findall(part):
        if word:
            token = word[:MAX_TOKEN]
            yield Term((token,), len(token) >= 2)
        elif len(cjk) == 1:
            yield Term((cjk,), True)
        else:
            yield Term(tuple(_bigrams(cjk)[:MAX_PHRASE_TOKENS]), False)


def parse_query(q: str) -> Query:
    """Parse what a person typed: words, "quoted phrases"; every other character (FTS operators included) is text."""
    terms: list[Term] = []
    for index, part in enumerate(_QUOTES.split(fold(q))):
        # Odd parts sit between quotes; an unbalanced quote's phrase runs to the end of the query.
        found = [_phrase(part)] if index % 2 else _words(part)
        for term in found:
            if len(terms) == MAX_TERMS:
                break
            if term is not None and term not in terms:
                terms.append(term)
    if not terms:
        raise QueryError("Type at least one letter or digit to search for.")
    return Query(terms)


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of a snippet; `match` marks text that matched the query."""

    text: str
    match: bool


_SNAP = 20  # how far a window edge may move to fall between words


def _token_spans(folded: str) -> Iterator[tuple[str, int, int, bool]]:
    """index_tokens' tokens in order, each with its span in `folded` and whether it is a CJK pair or character."""
    for run in _RUN.finditer(folded):
        start, end = run.span()
        if run.group(2) is not None:
            yield folded[start : min(end, start + MAX_TOKEN)], start, end, False
            continue
        for i in range(start, end - 1):
            yield folded[i : i + 2], i, i + 2, True
        yield folded[end - 1], end - 1, end, True


def _match_end(tokens: list[tuple[str, int, int, bool]], at: int, term: Term) -> int | None:
    """Where `term` ends in the folded text when it matches from token `at`, else None."""
    end = 0
    last = len(term.tokens) - 1
    for offset, wanted in enumerate(term.tokens):
        token, start, end, cjk = tokens[at + offset]
        if offset == last and term.prefix:
            if not token.startswith(wanted):
                return None
            if cjk:  # mark the characters typed, not the rest of the pair
                end = start + len(wanted)
        elif token != wanted:
            return None
    return end


def _find(folded: str, terms: list[Term], horizon: int) -> list[tuple[int, int]]:
    """Folded spans matching any term, from the first match up to `horizon` characters past it."""
    source = _token_spans(folded)
    tokens: list[tuple[str, int, int, bool]] = []

    def have(count: int) -> bool:
        while len(tokens) < count:
            token = next(source, None)
            if token is None:
                return False
            tokens.append(token)
        return True

    spans: list[tuple[int, int]] = []
    stop = len(folded)
    at = 0
    while have(at + 1) and tokens[at][1] < stop:
        for term in terms:
            end = _match_end(tokens, at, term) if have(at + len(term.tokens)) else None
            if end is not None:
                if not spans:
                    stop = tokens[at][1] + horizon
                spans.append((tokens[at][1], end))
        at += 1
    return spans


def _original_spans(body: str, spans: list[tuple[int, int]], origin: Sequence[int]) -> list[tuple[int, int]]:
    """Folded spans mapped back onto `body`, sorted and merged where they touch."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        low, high = origin[start], origin[end - 1] + 1
        while high < len(body) and not _FOLD[ord(body[high])]:  # keep trailing combining marks with their letter
            high += 1
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
        else:
            merged.append((low, high))
    return merged


def _window(body: str, anchor: int, anchor_end: int, width: int) -> tuple[int, int]:
    """About `width` characters of `body` showing [anchor, anchor_end), edges moved to spaces where one is near."""
    if len(body) <= width:
        return 0, len(body)
    start = max(0, min(anchor - width // 4, len(body) - width))
    if start > 0:
        for i in range(start, min(anchor, start + _SNAP)):
            if body[i].isspace():
                start = i + 1
                break
    end = max(start + width, anchor_end)
    if end >= len(body):
        return start, len(body)
    for i in range(end, max(anchor_end, end - _SNAP), -1):
        if body[i - 1].isspace():
            end = i - 1
            break
    while end > anchor_end and body[end - 1].isspace():
        end -= 1
    return start, end


def highlight(body: str, query: Query, *, width: int = 160) -> list[Segment]:
    """A snippet of `body` around its first match with every match marked; the start of `body` when none is found."""
    if not body:
        return []
    # ASCII folds to its lower case character for character: no map to build
    folded, origin = (body.lower(), range(len(body))) if body.isascii() else fold_map(body)
    # the window ends within `width` of the first match; folding can lengthen text ("ß" is "ss"): twice is enough
    spans = _original_spans(body, _find(folded, query.terms, horizon=2 * width), origin)
    start, end = _window(body, *(spans[0] if spans else (0, 0)), width)
    for low, high in spans:  # a match cut by the window's end is shown whole
        if low < end < high:
            end = high
    segments = [Segment(ELLIPSIS, False)] if start > 0 else []
    position = start
    for low, high in spans:
        low, high = max(low, start), min(high, end)
        if low >= high:
            continue
        if low > position:
            segments.append(Segment(body[position:low], False))
        segments.append(Segment(body[low:high], True))
        position = high
    if position < end:
        segments.append(Segment(body[position:end], False))
    if end < len(body):
        segments.append(Segment(ELLIPSIS, False))
    return segments
