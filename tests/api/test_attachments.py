"""Attachments through the API, on every database backend and on both storages (local disk, S3 via moto)."""

from __future__ import annotations

import hashlib
import io
import uuid
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select

from orbitask.config import Settings
from orbitask.core.events import REGISTRY, Event
from orbitask.tasks.models import Attachment
from tests.conftest import Api, User, assert_problem


@pytest.fixture(params=["local", "s3"])
def storage_backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def settings(settings: Settings, storage_backend: str, request: pytest.FixtureRequest) -> Settings:
    """The API settings on the storage under test, plus any `@pytest.mark.settings(...)` overrides."""
    update: dict[str, Any] = {}
    if storage_backend == "s3":
        moto = request.getfixturevalue("moto_server")
        update.update(storage_backend="s3", s3_bucket=moto.bucket(), s3_endpoint_url=moto.url, s3_region="us-east-1")
    marker = request.node.get_closest_marker("settings")
    if marker is not None:
        update.update(marker.kwargs)
    return settings.model_copy(update=update)


def png(width: int = 800, height: int = 600, color: str = "orange") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


async def upload(api: Api, who: User, card_id: str, name: str, data: bytes,
                 content_type: str = "application/octet-stream") -> Any:
    return await api.call(who, "POST", f"/cards/{card_id}/attachments", files={"file": (name, data, content_type)})


async def stored_keys(app: Any) -> list[str]:
    return [o.key async for o in app.state.runtime.files.local.list("")]


async def attachment_rows(app: Any) -> int:
    async with app.state.runtime.db.read_session() as session:
        return int(await session.scalar(select(func.count()).select_from(Attachment)) or 0)


async def event_types(app: Any) -> list[str]:
    async with app.state.runtime.db.read_session() as session:
        rows = await session.execute(select(Event).order_by(Event.seq))
        events = list(rows.scalars())
    for event in events:
        REGISTRY[event.type].model_validate(event.payload)
    return [e.type for e in events]


async def a_card(api: Api, who: User | None = None) -> tuple[User, dict[str, Any], dict[str, Any]]:
    owner = who or await api.user("Alice")
    board = await api.board(owner)
    lst = await api.list(owner, board["id"])
    return owner, board, await api.card(owner, lst["id"], "Design review")


async def test_image_upload_round_trip_with_thumbnail_and_activity(api: Api, app: Any) -> None:
    alice, board, card = await a_card(api)
    data = png()
    r = await upload(api, alice, card["id"], "mock-up.png", data, "image/png")
    assert r.status_code == 201, r.text
    att = r.json()
    assert (att["filename"], att["content_type"], att["size"]) == ("mock-up.png", "image/png", len(data))
    assert att["sha256"] == hashlib.sha256(data).hexdigest()
    assert (att["width"], att["height"], att["has_thumbnail"]) == (800, 600, True)
    assert att["region"] == "local"

    got = await api.call(alice, "GET", f"/attachments/{att['id']}/content", expect=200)
    assert got.content == data
    assert got.headers["content-type"] == "image/png"
    assert got.headers["content-disposition"].startswith("inline;")
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["etag"] == f'"{att["sha256"]}"'
    forced = await api.call(alice, "GET", f"/attachments/{att['id']}/content?download=true", expect=200)
    assert forced.headers["content-disposition"].startswith("attachment;")

    thumb = await api.call(alice, "GET", f"/attachments/{att['id']}/thumbnail", expect=200)
    assert thumb.headers["content-type"] == "image/webp"
    preview = Image.open(io.BytesIO(thumb.content))
    assert preview.format == "WEBP" and max(preview.size) == 640 and preview.size == (640, 480)

    listed = await api.ok(alice, "GET", f"/cards/{card['id']}/attachments")
    assert [a["id"] for a in listed["items"]] == [att["id"]]
    assert (await api.ok(alice, "GET", f"/cards/{card['id']}"))["attachment_count"] == 1
    activity = await api.ok(alice, "GET", f"/cards/{card['id']}/activity")
    assert activity[0]["type"] == "attachment.created"
    assert activity[0]["payload"]["attachment"]["id"] == att["id"]
    assert "attachment.created" in await event_types(app)
    assert sorted(await stored_keys(app)) == [f"attachments/{att['id']}/original",
                                              f"attachments/{att['id']}/thumbnail.webp"]


async def test_range_requests(api: Api) -> None:
    alice, _, card = await a_card(api)
    data = bytes(range(256)) * 40  # 10240 bytes
    att = (await upload(api, alice, card["id"], "blob.bin", data)).json()
    url = f"/attachments/{att['id']}/content"

    r = await api.call(alice, "GET", url, headers={"Range": "bytes=0-9"}, expect=206)
    assert r.content == data[:10]
    assert r.headers["content-range"] == f"bytes 0-9/{len(data)}"
    assert r.headers["content-length"] == "10"
    r = await api.call(alice, "GET", url, headers={"Range": "bytes=10000-"}, expect=206)
    assert r.content == data[10000:]
    r = await api.call(alice, "GET", url, headers={"Range": "bytes=-100"}, expect=206)
    assert r.content == data[-100:]
    r = await api.call(alice, "GET", url, headers={"Range": "bytes=100-999999"}, expect=206)
    assert r.content == data[100:]
    r = await api.call(alice, "GET", url, headers={"Range": "bytes=20000-"})
    assert_problem(r, 416, "range-not-satisfiable")
    assert r.headers["content-range"] == f"bytes */{len(data)}"
    r = await api.call(alice, "GET", url, headers={"Range": "bytes=0-1,5-6"}, expect=200)  # several: whole file
    assert r.content == data
    r = await api.call(alice, "GET", url, headers={"Range": "bytes=0-9", "If-Range": '"stale"'}, expect=200)
    assert r.content == data
    r = await api.call(alice, "GET", url, headers={"If-None-Match": f'"{att["sha256"]}"'}, expect=304)


@pytest.mark.settings(attachment_max_bytes=4096)
async def test_oversized_upload_is_refused_and_nothing_is_stored(api: Api, app: Any) -> None:
    alice, _, card = await a_card(api)
    r = await upload(api, alice, card["id"], "big.bin", b"x" * 4097)
    body = assert_problem(r, 413, "payload-too-large")
    assert "4096 bytes" in body["detail"]
    # far over the limit: refused from Content-Length before the body is read
    r = await upload(api, alice, card["id"], "huge.bin", b"x" * 200_000)
    assert_problem(r, 413, "payload-too-large")
    # sent without Content-Length (chunked), the stream is cut at the limit all the same
    async def chunked() -> Any:
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="s.bin"\r\n\r\n'
        for _ in range(100):
            yield b"y" * 1000
        yield b"\r\n--b--\r\n"

    r = await api.call(alice, "POST", f"/cards/{card['id']}/attachments", content=chunked(),
                       headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert "content-length" not in r.request.headers
    assert_problem(r, 413, "payload-too-large")
    # exactly at the limit is fine
    assert (await upload(api, alice, card["id"], "ok.bin", b"x" * 4096)).status_code == 201
    assert await attachment_rows(app) == 1
    assert len(await stored_keys(app)) == 1
    assert list(app.state.runtime.files.spool_dir.glob("upload-*")) == []  # no temp file left behind


async def test_empty_and_malformed_uploads_are_clear_errors(api: Api, app: Any) -> None:
    alice, _, card = await a_card(api)
    body = assert_problem(await upload(api, alice, card["id"], "empty.txt", b""), 422, "empty-file")
    assert "empty" in body["detail"]
    r = await api.call(alice, "POST", f"/cards/{card['id']}/attachments", json={"file": "x"})
    assert_problem(r, 415, "unsupported-media-type")
    r = await api.call(alice, "POST", f"/cards/{card['id']}/attachments", files={"other": ("a.txt", b"hi")})
    assert "field `file`" in assert_problem(r, 422, "invalid-input")["detail"]
    r = await api.call(alice, "POST", f"/cards/{card['id']}/attachments",
                       files=[("file", ("a.txt", b"a")), ("file", ("b.txt", b"b"))])
    assert "one file" in assert_problem(r, 422, "invalid-input")["detail"]
    r = await api.call(alice, "POST", f"/cards/{card['id']}/attachments", content=b"--xyz\r\nContent-Disposition: fo",
                       headers={"Content-Type": "multipart/form-data; boundary=xyz"})
    assert_problem(r, 422, "invalid-input")
    assert await attachment_rows(app) == 0
    assert await stored_keys(app) == []


@pytest.mark.parametrize(("sent", "kept"), [
    ("../../../etc/passwd", "passwd"),
    ("..\\..\\windows\\win.ini", "win.ini"),
    ("/abs/path/report.pdf", "report.pdf"),
    ("..", "file"),
    ("evil\u202egnp.exe", "evilgnp.exe"),
    ("less<>more|pipe?*.txt", "less__more_pipe__.txt"),
    ("  ...hidden.  ", "hidden"),
])
async def test_path_traversal_names_are_sanitised(api: Api, app: Any, sent: str, kept: str, tmp_path: Any) -> None:
    alice, _, card = await a_card(api)
    r = await upload(api, alice, card["id"], sent, b"hello")
    assert r.status_code == 201, r.text
    att = r.json()
    assert att["filename"] == kept
    assert all(k.startswith(f"attachments/{att['id']}/") for k in await stored_keys(app))
    got = await api.call(alice, "GET", f"/attachments/{att['id']}/content", expect=200)
    assert "/" not in got.headers["content-disposition"] and "\n" not in got.headers["content-disposition"]
    assert not (tmp_path.parent / "passwd").exists()


@pytest.mark.parametrize(("name", "data", "claimed", "sniffed", "disposition"), [
    ("cat.png", b"<!DOCTYPE html><script>alert(1)</script>", "image/png", "text/html", "attachment"),
    ("logo.png", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
     "image/png", "image/svg+xml", "attachment"),
    ("notes.txt", png(20, 20), "text/plain", "image/png", "inline"),
    ("report.pdf", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64, "application/pdf",
     "application/x-msdownload", "attachment"),
    ("data.csv", b"a,b\n1,2\n", "application/javascript", "text/csv", "inline"),
    ("page.xml", b"<?xml version='1.0'?><root/>", "text/plain", "application/xml", "attachment"),
])
async def test_content_type_is_sniffed_from_bytes_not_trusted(
    api: Api, name: str, data: bytes, claimed: str, sniffed: str, disposition: str
) -> None:
    alice, _, card = await a_card(api)
    att = (await upload(api, alice, card["id"], name, data, claimed)).json()
    assert att["content_type"] == sniffed
    got = await api.call(alice, "GET", f"/attachments/{att['id']}/content", expect=200)
    assert got.headers["content-type"].split(";")[0] == sniffed
    assert got.headers["content-disposition"].split(";")[0] == disposition
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.content == data


async def test_other_tenants_card_answers_404_and_stores_nothing(api: Api, app: Any) -> None:
    alice, _, card = await a_card(api)
    att = (await upload(api, alice, card["id"], "secret.txt", b"top secret")).json()
    mallory = await api.user("Mallory")
    assert_problem(await upload(api, mallory, card["id"], "x.txt", b"payload"), 404, "not-found")
    assert_problem(await upload(api, mallory, str(uuid.uuid4()), "x.txt", b"payload"), 404, "not-found")
    for method, path in [("GET", f"/attachments/{att['id']}"), ("GET", f"/attachments/{att['id']}/content"),
                         ("GET", f"/attachments/{att['id']}/thumbnail"), ("DELETE", f"/attachments/{att['id']}"),
                         ("GET", f"/cards/{card['id']}/attachments")]:
        r = await api.call(mallory, method, path)
        assert_problem(r, 404, "not-found")
        assert "secret" not in r.text
    assert await attachment_rows(app) == 1
    assert len(await stored_keys(app)) == 1


async def test_viewer_downloads_but_cannot_upload_or_delete(api: Api, app: Any) -> None:
    alice, board, card = await a_card(api)
    att = (await upload(api, alice, card["id"], "plan.txt", b"the plan")).json()
    viewer = await api.user("Viewer")
    await api.join(alice, viewer, "guest")
    await api.ok(alice, "POST", f"/boards/{board['id']}/members", json={"user_id": str(viewer.id), "role": "viewer"})
    got = await api.call(viewer, "GET", f"/attachments/{att['id']}/content", expect=200)
    assert got.content == b"the plan"
    assert_problem(await upload(api, viewer, card["id"], "x.txt", b"nope"), 403, "forbidden")
    assert_problem(await api.call(viewer, "DELETE", f"/attachments/{att['id']}"), 403, "forbidden")
    assert await attachment_rows(app) == 1


@pytest.mark.settings(attachment_workspace_quota_mb=1)
async def test_workspace_quota(api: Api, app: Any) -> None:
    alice, _, card = await a_card(api)
    first = (await upload(api, alice, card["id"], "a.bin", b"a" * 700_000)).json()
    body = assert_problem(await upload(api, alice, card["id"], "b.bin", b"b" * 400_000), 413, "quota-exceeded")
    assert body["quota_bytes"] == 1048576 and body["used_bytes"] == 700_000
    assert await attachment_rows(app) == 1 and len(await stored_keys(app)) == 1
    await api.ok(alice, "DELETE", f"/attachments/{first['id']}")  # deleted files no longer count
    assert (await upload(api, alice, card["id"], "b.bin", b"b" * 400_000)).status_code == 201


async def test_soft_delete_is_in_the_activity_and_keeps_the_file_for_gc(api: Api, app: Any) -> None:
    alice, _, card = await a_card(api)
    att = (await upload(api, alice, card["id"], "cover.png", png(), "image/png")).json()
    updated = await api.ok(alice, "PATCH", f"/cards/{card['id']}", json={"cover_attachment_id": att["id"]})
    assert updated["cover_attachment_id"] == att["id"]
    await api.call(alice, "DELETE", f"/attachments/{att['id']}", expect=204)
    assert_problem(await api.call(alice, "GET", f"/attachments/{att['id']}/content"), 404, "not-found")
    assert_problem(await api.call(alice, "DELETE", f"/attachments/{att['id']}"), 404, "not-found")
    assert (await api.ok(alice, "GET", f"/cards/{card['id']}/attachments"))["items"] == []
    detail = await api.ok(alice, "GET", f"/cards/{card['id']}")
    assert (detail["attachment_count"], detail["cover_attachment_id"]) == (0, None)
    activity = await api.ok(alice, "GET", f"/cards/{card['id']}/activity")
    assert [a["type"] for a in activity[:2]] == ["card.updated", "attachment.deleted"]
    assert activity[1]["payload"] == {"attachment_id": att["id"], "card_id": card["id"], "filename": "cover.png",
                                      "cover_cleared": True}
    assert len(await stored_keys(app)) == 2  # collected later by the worker, after the grace period
    assert "attachment.deleted" in await event_types(app)


async def test_card_cover_must_be_an_image_of_the_card(api: Api) -> None:
    alice, board, card = await a_card(api)
    other = await api.card(alice, card["list_id"], "Other")
    image = (await upload(api, alice, card["id"], "shot.jpg", png(), "image/jpeg")).json()
    text = (await upload(api, alice, card["id"], "notes.txt", b"notes")).json()
    elsewhere = (await upload(api, alice, other["id"], "x.png", png(10, 10), "image/png")).json()
    for bad in (text["id"], elsewhere["id"], str(uuid.uuid4())):
        r = await api.call(alice, "PATCH", f"/cards/{card['id']}", json={"cover_attachment_id": bad})
        assert "cover_attachment_id" in assert_problem(r, 422, "invalid-input")["detail"]
    await api.ok(alice, "PATCH", f"/cards/{card['id']}", json={"cover_attachment_id": image["id"]})
    snap = await api.ok(alice, "GET", f"/boards/{board['id']}")
    assert {c["id"]: c["cover_attachment_id"] for c in snap["cards"]}[card["id"]] == image["id"]
    cleared = await api.ok(alice, "PATCH", f"/cards/{card['id']}", json={"cover_attachment_id": None})
    assert cleared["cover_attachment_id"] is None


async def test_direct_uploads_need_s3(api: Api, storage_backend: str) -> None:
    alice, _, card = await a_card(api)
    r = await api.call(alice, "POST", f"/cards/{card['id']}/attachments/uploads", json={"filename": "a", "size": 1})
    if storage_backend == "local":
        assert "through POST /cards/{card_id}/attachments" in assert_problem(r, 409, "direct-upload-unsupported")["detail"]
    else:
        assert r.status_code == 201 and r.json()["url"].startswith("http://127.0.0.1:")


async def test_uploads_bypass_the_json_body_limit_even_with_an_idempotency_key(api: Api, app: Any) -> None:
    """Files are larger than ORBITASK_MAX_BODY_BYTES (1 MiB) and are streamed, never buffered to hash a key."""
    alice, _, card = await a_card(api)
    data = b"z" * (3 * 1024 * 1024)
    r = await api.call(alice, "POST", f"/cards/{card['id']}/attachments", files={"file": ("big.bin", data)},
                       headers={"Idempotency-Key": "upload-1"})
    assert r.status_code == 201, r.text
    assert r.json()["size"] == len(data)
    # the JSON API keeps its own limit
    r = await api.call(alice, "POST", f"/cards/{card['id']}/comments", content=b"{" + b" " * (1024 * 1024 + 1),
                       headers={"Content-Type": "application/json"})
    assert_problem(r, 413, "payload-too-large")
