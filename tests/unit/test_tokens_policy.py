"""Consistency tokens, the policy table and settings validation."""

import uuid

import pytest
from pydantic import ValidationError

from orbitask.auth import policy
from orbitask.auth.policy import BoardAccess
from orbitask.config import Settings
from orbitask.core.errors import Forbidden, NotFound
from orbitask.core.tokens import ConsistencyToken


def test_token_round_trip_and_garbage() -> None:
    token = ConsistencyToken(42, uuid.uuid4())
    assert ConsistencyToken.decode(token.encode()) == token
    for junk in ("", "nonsense", "djE6", "x" * 500, token.encode()[:-3] + "!!!"):
        assert ConsistencyToken.decode(junk) is None
    older = ConsistencyToken(7, uuid.uuid4())
    assert token.newer(older) is token and older.newer(token) is token


def test_token_encoding_is_what_the_web_client_reads() -> None:
    """web/src/api/http.ts compares tokens by the sequence inside them; web/src/api/http.test.ts holds these."""
    assert ConsistencyToken(5, uuid.UUID(int=5)).encode() == "djE6NTowMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwNQ"
    big = ConsistencyToken(123456789012, uuid.UUID("0f8fad5b-d9cb-469f-a165-70867728950e"))
    assert big.encode() == "djE6MTIzNDU2Nzg5MDEyOjBmOGZhZDViZDljYjQ2OWZhMTY1NzA4Njc3Mjg5NTBl"


@pytest.mark.parametrize(
    ("ws_role", "explicit", "visibility", "expected"),
    [
        ("owner", None, "private", "admin"),
        ("admin", None, "workspace", "admin"),
        ("admin", None, "private", None),
        ("member", None, "workspace", "editor"),
        ("member", None, "private", None),
        ("member", "viewer", "private", "viewer"),
        ("member", "admin", "workspace", "admin"),
        ("member", "viewer", "workspace", "editor"),
        ("guest", None, "workspace", None),
        ("guest", "commenter", "workspace", "commenter"),
        (None, "admin", "workspace", None),
    ],
)
def test_effective_board_role(ws_role, explicit, visibility, expected) -> None:  # noqa: ANN001
    assert policy.effective_board_role(BoardAccess(ws_role, explicit, visibility)) == expected


def test_require_answers_404_for_outsiders_and_403_for_low_roles() -> None:
    with pytest.raises(NotFound):
        policy.require_board(None, "board.read")
    with pytest.raises(Forbidden):
        policy.require_board("viewer", "card.comment")
    policy.require_board("commenter", "card.comment")
    with pytest.raises(Forbidden):
        policy.require_board("editor", "board.admin")
    with pytest.raises(NotFound):
        policy.require_workspace(None, "workspace.read")
    with pytest.raises(Forbidden):
        policy.require_workspace("guest", "board.create")
    policy.require_workspace("member", "board.create")


def test_every_action_names_a_real_role() -> None:
    assert set(policy.BOARD_ACTIONS.values()) <= set(policy.BOARD_RANK)
    assert set(policy.WORKSPACE_ACTIONS.values()) <= set(policy.WORKSPACE_RANK)


def test_production_refuses_default_secrets(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(ValidationError, match="ORBITASK_SECRET_KEY"):
        Settings(env="production", data_dir=tmp_path, database_url="sqlite+aiosqlite:///x.db")
    with pytest.raises(ValidationError, match="ORBITASK_SECRET_KEY"):
        Settings(env="production", secret_key="changeme", database_url="sqlite+aiosqlite:///x.db")
    ok = Settings(env="production", secret_key="s" * 40, database_url="mysql+asyncmy://u:pw@db/orbitask")
    assert ok.signing_key == "s" * 40
    assert "pw" not in str(ok.shown()["database_url"])


def test_local_secret_is_generated_once_into_the_data_dir(tmp_path) -> None:  # noqa: ANN001
    first = Settings(data_dir=tmp_path).signing_key
    assert len(first) >= 32
    assert Settings(data_dir=tmp_path).signing_key == first
    assert (tmp_path / "secret.key").stat().st_mode & 0o077 == 0


def test_unknown_services_are_refused() -> None:
    assert Settings(services="auth, tasks").services == ["auth", "tasks"]
    with pytest.raises(ValidationError, match="unknown services"):
        Settings(services="auth,billing")


def test_sign_up_verification_needs_email() -> None:
    """Turned on without an SMTP server nobody could finish signing up: refused at start, with the fix."""
    with pytest.raises(ValidationError, match="SIGNUP_VERIFICATION=true needs ORBITASK_SMTP_HOST"):
        Settings(signup_verification=True)
    assert Settings(signup_verification=True, smtp_host="mail.example").signup_verification
    assert Settings(signup_verification=False).signup_verification is False


def test_every_setting_is_documented() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    missing = [name for name in Settings.model_fields if f"`ORBITASK_{name.upper()}`" not in doc]
    assert missing == [], f"document these settings in docs/configuration.md: {missing}"


def test_signing_key_rotates_without_signing_anyone_out() -> None:
    import jwt as pyjwt

    from orbitask.auth.security import AccessTokens, key_id
    from orbitask.core.errors import Unauthorized

    old_key, new_key = "old-" + "o" * 40, "new-" + "n" * 40
    user = uuid.uuid4()
    before = AccessTokens(old_key, 900).issue(user)
    assert pyjwt.get_unverified_header(before)["kid"] == key_id(old_key) != key_id(new_key)

    rotated = AccessTokens(new_key, 900, previous=[old_key])
    assert rotated.verify(before)["sub"] == user  # signed before the rotation: still valid
    after = rotated.issue(user)
    assert pyjwt.get_unverified_header(after)["kid"] == key_id(new_key)
    assert rotated.verify(after)["sub"] == user

    retired = AccessTokens(new_key, 900)  # the old key dropped once its tokens have expired
    with pytest.raises(Unauthorized):
        retired.verify(before)
    # a token claiming a known kid but signed with another key is still refused
    forged = pyjwt.encode({"sub": str(user), "iat": 0, "exp": 2**40, "typ": "access"}, "x" * 40,
                          algorithm="HS256", headers={"kid": key_id(new_key)})
    with pytest.raises(Unauthorized):
        rotated.verify(forged)


def test_previous_secret_keys_come_from_a_comma_separated_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORBITASK_PREVIOUS_SECRET_KEYS", "a" * 40 + ", " + "b" * 40)
    settings = Settings(secret_key="c" * 40)
    assert settings.previous_signing_keys == ["a" * 40, "b" * 40]
    assert "a" * 40 not in str(settings.shown())


def test_verified_access_tokens_are_remembered_until_they_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    from orbitask.auth import security
    from orbitask.core.errors import Unauthorized

    tokens = security.AccessTokens("k" * 40, 900)
    decoded: list[str] = []
    real_decode = security.jwt.decode
    monkeypatch.setattr(security.jwt, "decode", lambda token, *a, **kw: decoded.append(token) or real_decode(token, *a, **kw))
    user = uuid.uuid4()
    token = tokens.issue(user)
    claims = tokens.verify(token)
    claims["sub"] = "changed by a caller"
    assert tokens.verify(token)["sub"] == user  # a copy each time; the signature was checked once
    assert decoded == [token]
    with pytest.raises(Unauthorized):  # remembered per type: an access token is no refresh token
        tokens.verify(token, typ="refresh")
    with pytest.raises(Unauthorized):  # a tampered token is checked, and refused
        tokens.verify(token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
    checks = decoded.count(token)
    tokens.verify(token)
    assert decoded.count(token) == checks
    later = claims["exp"] + 1
    monkeypatch.setattr(security.time, "time", lambda: later)
    tokens.verify(token)  # past its expiry the remembered claims are dropped and the token checked again
    assert decoded.count(token) == checks + 1
