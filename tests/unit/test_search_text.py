"""Search text: folding, tokens, the query language, its per-backend syntax and snippets."""

import random
import re
import unicodedata
import uuid

import pytest

from orbitask.search.syntax import board_marker, boolean_mode, expandable, fts5, stored_terms, tsquery
from orbitask.search.text import (
    ELLIPSIS,
    MAX_TERMS,
    Query,
    QueryError,
    Segment,
    Term,
    fold,
    fold_map,
    highlight,
    index_tokens,
    parse_query,
)


def is_token_char(char: str) -> bool:
    return char.isalnum() or char == "_" or unicodedata.category(char) == "Mc"


def marked(segments: list[Segment]) -> list[str]:
    return [segment.text for segment in segments if segment.match]


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Café", "cafe"),
        ("Cafe\u0301", "cafe"),  # decomposed input folds like composed input
        ("Straße", "strasse"),
        ("ÅNGSTRÖM", "angstrom"),
        ("Ａｂｃ１", "abc1"),  # fullwidth
        ("İstanbul", "istanbul"),  # Turkish dotted capital I: no stray combining dot
        ("ǅemal", "dzemal"),
        ("ﬁx", "fix"),
        ("ガｶﾞカ\u3099", "カカカ"),  # voiced kana: composed, halfwidth and decomposed alike
    ],
)
def test_fold_folds_accents_case_and_width(text: str, folded: str) -> None:
    assert fold(text) == folded
    assert fold_map(text)[0] == folded


def test_fold_map_points_each_folded_character_at_its_original() -> None:
    assert fold_map("Straße") == ("strasse", [0, 1, 2, 3, 4, 4, 5])
    assert fold_map("e\u0301x") == ("ex", [0, 2])


def test_words_are_runs_of_letters_digits_and_underscores() -> None:
    assert index_tokens("Hello, wörld! foo_bar 3.14 ___ x-ray") == ["hello", "world", "foo_bar", "3", "14", "x", "ray"]
    assert index_tokens("हिंदी") == ["हिदी"]  # Indic vowel signs keep the word whole
    assert index_tokens("") == [] and index_tokens(" \n\t!?") == []


def test_ascii_text_is_tokenised_like_any_other_text() -> None:
    """ASCII text takes a shortcut; it must give what the general path gives."""
    rng = random.Random(5)
    for _ in range(200):
        text = "".join(rng.choice("aZ9_ -.,'\"*\n") for _ in range(rng.randint(0, 30))) + "x" * rng.choice((0, 70))
        assert index_tokens(text) == index_tokens(text + " é")[:-1]


def test_long_words_are_cut_at_60_characters() -> None:
    assert index_tokens("a" * 59 + " " + "b" * 60 + " " + "C" * 61) == ["a" * 59, "b" * 60, "c" * 60]
    assert index_tokens("É" * 61 + " ß" * 2) == ["e" * 60, "ss", "ss"]
    assert parse_query("É" * 70).terms == [Term(("e" * 60,), True)]


def test_cjk_runs_are_indexed_as_bigrams_plus_their_last_character() -> None:
    assert index_tokens("東京都") == ["東京", "京都", "都"]
    assert index_tokens("京") == ["京"]
    assert index_tokens("ログイン") == ["ロク", "クイ", "イン", "ン"]  # kana voicing marks fold like accents
    assert index_tokens("東京、大阪") == ["東京", "京", "大阪", "阪"]  # ideographic comma separates


def test_mixed_scripts_split_into_runs_of_each_kind() -> None:
    assert index_tokens("東京tower") == ["東京", "京", "tower"]
    assert index_tokens("Café東京 Москва ΚΑΛΗ") == ["cafe", "東京", "京", "москва", "καλη"]


def test_words_outside_quotes_are_prefixes_from_two_characters() -> None:
    assert parse_query("Café au  x").terms == [Term(("cafe",), True), Term(("au",), True), Term(("x",), False)]


def test_quoted_text_is_one_exact_phrase() -> None:
    assert parse_query('"Release notes" v2').terms == [Term(("release", "notes"), False), Term(("v2",), True)]
    assert parse_query("“curly quotes” too").terms == [Term(("curly", "quotes"), False), Term(("too",), True)]


def test_an_unbalanced_quote_closes_at_the_end() -> None:
    assert parse_query('draft "release notes').terms == [Term(("draft",), True), Term(("release", "notes"), False)]
    assert parse_query('"東京').terms == [Term(("東京",), False)]


def test_cjk_queries_are_phrases_of_bigrams_and_a_single_character_a_prefix() -> None:
    assert parse_query("東京都").terms == [Term(("東京", "京都"), False)]
    assert parse_query("京").terms == [Term(("京",), True)]
    assert parse_query("東京tower").terms == [Term(("東京",), False), Term(("tower",), True)]


def test_cjk_inside_a_phrase_keeps_the_stored_layout() -> None:
    assert parse_query('"東京都 tower"').terms == [Term(("東京", "京都", "都", "tower"), False)]
    assert parse_query('"tower 京"').terms == [Term(("tower", "京"), True)]


def test_query_terms_line_up_with_stored_tokens() -> None:
    """Whatever part of a text is searched for, its terms are a run of the text's stored tokens (so the index finds it)."""
    text = "私は東京都に住んでいます Tokyo 東京タワー tower"
    stored = index_tokens(text)
    # Every cut except inside a latin word, where the index only finds words from their start.
    cuts = [i for i in range(len(text) + 1) if not (0 < i < len(text) and text[i - 1].isascii() and text[i].isascii())]
    for start in cuts:
        for end in (cut for cut in cuts if cut > start):
            for query in (text[start:end], f'"{text[start:end]}"'):
                try:
                    terms = parse_query(query).terms
                except QueryError:
                    continue
                for term in terms:
                    assert any(
                        all(
                            stored[at + i] == token
                            or (term.prefix and i == len(term.tokens) - 1 and stored[at + i].startswith(token))
                            for i, token in enumerate(term.tokens)
                        )
                        for at in range(len(stored) - len(term.tokens) + 1)
                    ), (query, term)


def test_fts_operators_are_plain_words() -> None:
    terms = parse_query("foo AND bar* -baz NEAR(qux, 2) title:y ^z (w) +v OR NOT").terms
    assert [term.tokens[0] for term in terms] == ["foo", "and", "bar", "baz", "near", "qux", "2", "title", "y", "z",
                                                  "w", "v", "or", "not"]
    assert all(len(term.tokens) == 1 for term in terms)


@pytest.mark.parametrize("q", ["", "   ", '""', '" "', "*", "-", "!@#$%^&*()", "___", "\x00", "、。"])
def test_queries_with_nothing_to_find_are_refused(q: str) -> None:
    with pytest.raises(QueryError) as refused:
        parse_query(q)
    assert refused.value.status == 422 and refused.value.type == "search-query-invalid" and refused.value.reason


def test_at_most_16_terms_are_kept_and_repeats_count_once() -> None:
    words = [f"w{i:02d}" for i in range(20)]
    terms = parse_query(" ".join(["w00", "W00", *words])).terms
    assert len(terms) == MAX_TERMS == 16
    assert [term.tokens[0] for term in terms] == words[:16]


@pytest.mark.parametrize(
    ("q", "expected_fts5", "expected_boolean", "expected_tsquery"),
    [
        ("café x", '"cafe" * AND "x"', "+qqcafe* +qqx", "'cafe':* & 'x'"),
        ('"Release notes" v2', '"release" + "notes" AND "v2" *', '+"qqrelease qqnotes" +qqv2*',
         "('release' <-> 'notes') & 'v2':*"),
        ("東京都 京", '"東京" + "京都" AND "京" *', '+"qq東京 qq京都" +qq京*', "('東京' <-> '京都') & '京':*"),
        ('"tower 京', '"tower" + "京" *', "+qqtower +qq京*", "('tower' <-> '京':*)"),
        ('"a b c" the', '"a" + "b" + "c" AND "the" *', '+"qqa qqb qqc" +qqthe*', "('a' <-> 'b' <-> 'c') & 'the':*"),
    ],
)
def test_each_backend_gets_exactly_its_syntax(q: str, expected_fts5: str, expected_boolean: str,
                                               expected_tsquery: str) -> None:
    query = parse_query(q)
    assert fts5(query) == expected_fts5
    assert boolean_mode(query) == expected_boolean
    assert tsquery(query) == expected_tsquery


def test_compilers_escape_quotes_in_tokens() -> None:
    """parse_query never yields a quote inside a token; the compilers still escape one if a caller builds it."""
    query = Query([Term(('a"b',), False), Term(("it's\\",), True)])
    assert fts5(query) == '"a""b" AND "it\'s\\" *'
    assert tsquery(query) == "'a\"b' & 'it''s\\\\':*"
    assert boolean_mode(query) == "+qqab +qqits*"  # boolean mode has no escapes: operator characters are dropped


def test_operator_characters_never_reach_the_output() -> None:
    words = parse_query("' OR 1=1 -- ; DROP card; NEAR(a b) @2 ~c <d> e* f:g \\h|i&j!k")
    assert fts5(words) == " AND ".join(['"or" *', '"1"', '"drop" *', '"card" *', '"near" *', '"a"', '"b"', '"2"',
                                        '"c"', '"d"', '"e"', '"f"', '"g"', '"h"', '"i"', '"j"'])
    phrase = parse_query('x" OR (a*) -b')
    assert fts5(phrase) == '"x" AND "or" + "a" + "b"'
    assert boolean_mode(phrase) == '+qqx +"qqor qqa qqb"'
    assert tsquery(phrase) == "'x' & ('or' <-> 'a' <-> 'b')"
    for query in (words, phrase):
        for compile_, syntax in ((fts5, ' "+*'), (boolean_mode, ' "+*'), (tsquery, " '()<->&:*")):
            text = compile_(query)
            assert all(is_token_char(char) or char in syntax for char in text.replace(" AND ", " ")), text


def test_stored_terms_carry_the_mysql_prefix_only_on_mysql_and_mariadb() -> None:
    tokens = index_tokens("The 東京 a")
    assert stored_terms(tokens, "sqlite") == stored_terms(tokens, "postgresql") == "the 東京 京 a"
    assert stored_terms(tokens, "mysql") == stored_terms(tokens, "mariadb") == "qqthe qq東京 qq京 qqa"


def test_on_sqlite_stored_terms_end_with_the_board_marker_no_query_can_spell() -> None:
    board = uuid.UUID("01a252f7-b4bc-7090-8cef-d861e5241b4d")
    tokens = index_tokens("The 東京 a")
    assert stored_terms(tokens, "sqlite", board) == "the 東京 京 a \ue00001a252f7b4bc70908cefd861e5241b4d"
    assert stored_terms(tokens, "postgresql", board) == "the 東京 京 a"
    assert stored_terms(tokens, "mariadb", board) == "qqthe qq東京 qq京 qqa"
    assert board_marker(board)[0] not in "".join(index_tokens(board_marker(board)))  # typed, it is not the marker
    assert fts5(parse_query("plan"), board_id=board) == '"plan" * AND "\ue00001a252f7b4bc70908cefd861e5241b4d"'


def test_long_prefixes_are_spelled_out_as_the_words_given() -> None:
    query = parse_query('deplo qa "road map" 東 ünïc мост')
    # letters and digits, after folding ASCII, and longer than FTS5's prefix indexes
    assert [expandable(term) for term in query.terms] == ["deplo", None, None, None, "unic", None]
    assert fts5(query, {"deplo": ["deploy", "deployed"]}) == \
        '("deploy" OR "deployed") AND "qa" * AND "road" + "map" AND "東" * AND "unic" * AND "мост" *'
    assert fts5(query, {"deplo": []}).startswith('("deplo") AND')  # no such word: matches nothing, quickly
    assert fts5(query).startswith('"deplo" * AND')  # not looked up (or too many words): FTS5's own prefix search


ALPHABET = (
    "abcXYZ019 _\"'*-+:()^~<>@\\;.,!?%&|{}[]\t\n\x00"
    "éÅßİ"
    "дЖΩλ"
    "東京都大阪の近くログインガ한국어ｶﾞＡ１"
    "हिंदी"
    "“”„＂😀\u0301"
)


def _contents_are_tokens(contents: list[str]) -> bool:
    return all(content and all(is_token_char(char) for char in content) for content in contents)


def test_random_queries_compile_to_well_formed_escaped_syntax() -> None:
    rng = random.Random(27)
    fts5_term = re.compile(r'"([^"]*)"(?: \+ "([^"]*)")*(?: \*)?')
    compiled = 0
    for _ in range(200):
        q = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 40)))
        try:
            query = parse_query(q)
        except QueryError:
            continue
        compiled += 1
        assert 1 <= len(query.terms) <= MAX_TERMS

        fts5_terms = fts5(query).split(" AND ")
        assert len(fts5_terms) == len(query.terms)
        for text in fts5_terms:
            assert fts5_term.fullmatch(text), text
            assert _contents_are_tokens(re.findall(r'"([^"]*)"', text)), text
            assert text.count('"') % 2 == 0

        for part in boolean_mode(query).split(" +"):
            assert re.fullmatch(r'\+?(qq[^\s"*+]+\*?|"qq[^\s"]+(?: qq[^\s"]+)+")', part), part
            assert _contents_are_tokens([word.removeprefix("qq") for word in re.findall(r'qq[^\s"*]+', part)]), part

        ts_terms = tsquery(query).split(" & ")
        assert len(ts_terms) == len(query.terms)
        for text in ts_terms:
            assert re.fullmatch(r"'[^']+'(:\*)?|\('[^']+'(?: <-> '[^']+')+(:\*)?\)", text), text
            assert _contents_are_tokens(re.findall(r"'([^']*)'", text)), text
    assert compiled > 150


def test_highlight_marks_the_accented_original() -> None:
    segments = highlight("Le Café de la gare, Straße 5", parse_query("cafe strasse"))
    assert segments == [Segment("Le ", False), Segment("Café", True), Segment(" de la gare, ", False),
                        Segment("Straße", True), Segment(" 5", False)]
    assert marked(highlight("Cafe\u0301 noir", parse_query("CAFÉ"))) == ["Cafe\u0301"]
    assert marked(highlight("Straße", parse_query("stras"))) == ["Straße"]  # a prefix marks its whole word


def test_highlight_matches_words_from_their_start_and_exact_words_whole() -> None:
    assert marked(highlight("bar rebar barn", parse_query("bar"))) == ["bar", "barn"]
    assert marked(highlight("x xy y x", parse_query("x"))) == ["x", "x"]


def test_highlight_finds_phrases_only_with_their_words_in_order() -> None:
    query = parse_query('"release notes"')
    assert marked(highlight("notes release; Release - notes!", query)) == ["Release - notes"]
    assert highlight("notes release", query) == [Segment("notes release", False)]


def test_highlight_finds_cjk_substrings() -> None:
    assert marked(highlight("我住在東京都の近く", parse_query("京都"))) == ["京都"]
    assert marked(highlight("我住在東京都の近く", parse_query("京"))) == ["京"]
    assert marked(highlight("我住在東京都の近く", parse_query("東京都の"))) == ["東京都の"]
    assert marked(highlight("東京tower", parse_query('"東京 tower"'))) == ["東京tower"]


def test_highlight_cuts_a_window_around_the_first_match() -> None:
    body = "lorem ipsum " * 40 + "the Café opens " + "dolor sit " * 40
    segments = highlight(body, parse_query("cafe"), width=80)
    assert segments[0] == Segment(ELLIPSIS, False) and segments[-1] == Segment(ELLIPSIS, False)
    assert marked(segments) == ["Café"]
    shown = "".join(segment.text for segment in segments[1:-1])
    assert 70 <= len(shown) <= 80
    at = body.index(shown)  # both edges fall between words
    assert body[at - 1] == " " and body[at + len(shown)] == " " and shown.strip() == shown
    assert shown.index("Café") >= 10  # some text before the match, for context


def test_highlight_without_a_match_shows_the_start_unmarked() -> None:
    body = "word " * 100
    assert highlight(body, parse_query("absent"), width=30) == [Segment("word word word word word word", False),
                                                                 Segment(ELLIPSIS, False)]
    assert highlight("short", parse_query("absent")) == [Segment("short", False)]
    assert highlight("", parse_query("absent")) == []
