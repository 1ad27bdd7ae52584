"""A parsed search query in each backend's full-text syntax: user text only ever quoted or reduced to word characters."""

from __future__ import annotations

import unicodedata

from orbitask.search.text import Query, Term

MYSQL_DIALECTS = frozenset({"mysql", "mariadb"})
# InnoDB skips tokens shorter than innodb_ft_min_token_size (3) and English stopwords; with this prefix on every stored
# and queried token none is short or a stopword, and no server setting is needed.
MYSQL_TOKEN_PREFIX = "qq"


def fts5(query: Query) -> str:
    """An SQLite FTS5 MATCH expression: each term a phrase of quoted tokens (`"a" + "b"`, prefix `"a" *`), all ANDed."""
    return " AND ".join(_fts5_term(term) for term in query.terms)


def _fts5_term(term: Term) -> str:
    phrase = " + ".join('"' + token.replace('"', '""') + '"' for token in term.tokens)
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


def stored_terms(tokens: list[str], dialect: str) -> str:
    """The text stored in search_entry.terms for `tokens` on the named SQLAlchemy dialect."""
    if dialect in MYSQL_DIALECTS:
        return " ".join(MYSQL_TOKEN_PREFIX + token for token in tokens)
    return " ".join(tokens)
