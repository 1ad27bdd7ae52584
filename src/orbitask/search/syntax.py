"""A parsed search query in each backend's full-text syntax: user text only ever quoted or reduced to word characters."""

from __future__ import annotations

import unicodedata
import uuid

from orbitask.search.text import Query, Term

MYSQL_DIALECTS = frozenset({"mysql", "mariadb"})
# InnoDB skips tokens shorter than innodb_ft_min_token_size (3) and English stopwords; with this prefix on every stored
# and queried token none is short or a stopword, and no server setting is needed.
MYSQL_TOKEN_PREFIX = "qq"


# SQLite: each entry also holds its board's marker, a word no text can make (a private-use character starts it,
# and the query language reads only letters and digits), so a search in one board is the full-text AND of it
# instead of a walk through every board's matches.
BOARD_MARK = "\ue000"


def board_marker(board_id: uuid.UUID) -> str:
    """The word an entry of this board carries on SQLite."""
    return BOARD_MARK + board_id.hex


# FTS5's prefix indexes (ddl: prefix='1 2 3'): a longer prefix is better given as the words it starts.
FTS5_PREFIX_INDEXED = 3


def expandable(term: Term) -> str | None:
    """The prefix of a one-word prefix term too long for FTS5's prefix indexes (ASCII letters and digits: the
    words of search_term split exactly as FTS5 splits them), else None."""
    if not term.prefix or len(term.tokens) != 1:
        return None
    token = term.tokens[0]
    return token if len(token) > FTS5_PREFIX_INDEXED and token.isascii() and token.isalnum() else None


def fts5(query: Query, words: dict[str, list[str]] | None = None, *, board_id: uuid.UUID | None = None) -> str:
    """An SQLite FTS5 MATCH expression: each term a phrase of quoted tokens (`"a" + "b"`, prefix `"a" *`), all
    ANDed; a prefix found in `words` becomes the words it starts (`("ab" OR "abc")`); with `board_id`, only
    that board's entries."""
    terms = [_fts5_term(term, words or {}) for term in query.terms]
    if board_id is not None:
        terms.append(_quoted(board_marker(board_id)))
    return " AND ".join(terms)


def _quoted(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def _fts5_term(term: Term, words: dict[str, list[str]]) -> str:
    prefix = expandable(term)
    if prefix is not None and prefix in words:
        return "(" + " OR ".join(map(_quoted, words[prefix] or [prefix])) + ")"
    phrase = " + ".join(map(_quoted, term.tokens))
    return f"{phrase} *" if term.prefix else phrase


def boolean_mode(query: Query) -> str:
    """A MariaDB/MySQL `AGAINST (… IN BOOLEAN MODE)` string: every term required (`+qqtok`, `+qqtok*`, `+"qqa qqb"`)."""
    return " ".join(_boolean_term(term) for term in query.terms)


def _bare(token: str) -> str:
    """A token reduced to word characters: boolean mode has no escapes, so an operator character must never get in."""
    bare = "".join(char for char in token if char.isalnum() or char == "_" or unicodedata.category(char) == "Mc")
    if not bare:
        raise ValueError(f"search token {token!r} has no word characters")
    return MYSQL_TOKEN_PREFIX + bare


def _boolean_term(term: Term) -> str:
    words = [_bare(token) for token in term.tokens]
    # Boolean mode has no prefix inside a phrase: the phrase keeps its exact tokens and the last one becomes a separate
    # required prefix, which finds a superset of the phrase's matches.
    exact = words[:-1] if term.prefix else words
    parts = []
    if len(exact) == 1:
        parts.append(f"+{exact[0]}")
    elif exact:
        parts.append('+"' + " ".join(exact) + '"')
    if term.prefix:
        parts.append(f"+{words[-1]}*")
    return " ".join(parts)


def tsquery(query: Query) -> str:
    """A PostgreSQL `to_tsquery('simple', …)` string: quoted lexemes, prefix `'tok':*`, phrases with `<->`, ANDed."""
    return " & ".join(_tsquery_term(term) for term in query.terms)


def _lexeme(token: str) -> str:
    # tsquery reads a backslash inside quotes as an escape, and a doubled quote as a quote.
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def _tsquery_term(term: Term) -> str:
    lexemes = [_lexeme(token) for token in term.tokens]
    if term.prefix:
        lexemes[-1] += ":*"
    phrase = " <-> ".join(lexemes)
    return f"({phrase})" if len(lexemes) > 1 else phrase


def stored_terms(tokens: list[str], dialect: str, board_id: uuid.UUID | None = None) -> str:
    """The text stored in search_entry.terms for `tokens` on the named SQLAlchemy dialect (on SQLite with the
    marker of the entry's board)."""
    if dialect in MYSQL_DIALECTS:
        return " ".join(MYSQL_TOKEN_PREFIX + token for token in tokens)
    if dialect == "sqlite" and board_id is not None:
        return " ".join([*tokens, board_marker(board_id)])
    return " ".join(tokens)
