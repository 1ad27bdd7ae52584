"""S3 only: direct uploads with a presigned POST, presigned downloads; and what the local backend answers instead."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import jwt
import pytest

from orbitask.config import Settings
from orbitask.tasks.uploads import AUDIENCE
from tests.api.test_attachments import a_card, attachment_rows, png, stored_keys, upload
from tests.conftest import TEST_SECRET, Api, User, assert_problem


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    moto = request.getfixturevalue("moto_server")
    update: dict[str, Any] = dict(storage_backend="s3", s3_bucket=moto.bucket(), s3_endpoint_url=moto.url,
                                  s3_region="us-east-1", attachment_max_bytes=100_000)
    marker = request.node.get_closest_marker("settings")
    if marker is not None:
        update.update(marker.kwargs)
    return settings.model_copy(update=update)


async def post_to_storage(ticket: dict[str, Any], name: str, data: bytes) -> httpx.Response:
    async with httpx.AsyncClient() as direct:  # the browser's own request, straight to the bucket
        return await direct.post(ticket["url"], data=ticket["fields"], files={"file": (name, data)})


async def start(api: Api, who: User, card_id: str, name: str, size: int) -> Any:
    return await api.call(who, "POST", f"/cards/{card_id}/attachments/uploads", json={"filename": name, "size": size})


async def test_direct_upload_then_complete(api: Api, app: Any) -> None:
    alice, _, card = await a_card(api)
    data = png(300, 200)
    ticket = (await start(api, alice, card["id"], "../shot.png", len(data))).json()
    assert ticket["url"].startswith(app.state.runtime.settings.s3_endpoint_url)
    assert ticket["fields"]["key"] == f"attachments/{ticket['attachment_id']}/original"
    assert (await post_to_storage(ticket, "shot.png", data)).status_code in (200, 204)

    r = await api.call(alice, "POST", f"/cards/{card['id']}/attachments/uploads/complete",
                       json={"ticket": ticket["ticket"]}, expect=201)
    att = r.json()
    assert att["id"] == ticket["attachment_id"]
    assert (att["filename"], att["content_type"], att["size"]) == ("shot.png", "image/png", len(data))
    assert att["sha256"] == hashlib.sha256(data).hexdigest() and att["has_thumbnail"]
    got = await api.call(alice, "GET", f"/attachments/{att['id']}/content", expect=200)
    assert got.content == data
    again = await api.call(alice, "POST", f"/cards/{card['id']}/attachments/uploads/complete",
                           json={"ticket": ticket["ticket"]}, expect=201)
    assert again.json()["id"] == att["id"]
    assert await attachment_rows(app) == 1


async def test_direct_upload_refusals(api: Api, app: Any) -> None:
    alice, _, card = await a_card(api)
    assert_problem(await start(api, alice, card["id"], "big.bin", 100_001), 413, "payload-too-large")
    mallory = await api.user("Mallory")
    assert_problem(await start(api, mallory, card["id"], "x.bin", 10), 404, "not-found")

    # completing before posting the file
    ticket = (await start(api, alice, card["id"], "a.txt", 5)).json()
    r = await api.call(alice, "POST", f"/cards/{card['id']}/attachments/uploads/complete",
                       json={"ticket": ticket["ticket"]})
    assert_problem(r, 422, "upload-missing")
    # someone else's ticket, or a forged one
    await post_to_storage(ticket, "a.txt", b"hello")
    r = await api.call(mallory, "POST", f"/cards/{card['id']}/attachments/uploads/complete",
                       json={"ticket": ticket["ticket"]})
    assert_problem(r, 422, "invalid-input")
    r = await api.call(alice, "POST", f"/cards/{card['id']}/attachments/uploads/complete",
                       json={"ticket": ticket["ticket"][:-4] + "AAAA"})
    assert_problem(r, 422, "invalid-input")

    # moto does not enforce the POST policy's size range: the server checks again on completion
    big = (await start(api, alice, card["id"], "big.bin", 10)).json()
    await post_to_storage(big, "big.bin", b"x" * 100_001)
    r = await api.call(alice, "POST", f"/cards/{card['id']}/attachments/uploads/complete",
                       json={"ticket": big["ticket"]})
    assert_problem(r, 413, "payload-too-large")
    empty = (await start(api, alice, card["id"], "empty.bin", 10)).json()
    await post_to_storage(empty, "empty.bin", b"")
    r = await api.call(alice, "POST", f"/cards/{card['id']}/attachments/uploads/complete",
                       json={"ticket": empty["ticket"]})
    assert_problem(r, 422, "empty-file")
    assert await attachment_rows(app) == 0
    assert await stored_keys(app) == [f"attachments/{ticket['attachment_id']}/original"]  # left for GC


async def test_expired_upload_ticket_is_refused_and_the_file_removed(api: Api, app: Any) -> None:
    alice, _, card = await a_card(api)
    ticket = (await start(api, alice, card["id"], "late.txt", 4)).json()
    await post_to_storage(ticket, "late.txt", b"late")
    claims = jwt.decode(ticket["ticket"], TEST_SECRET, algorithms=["HS256"], audience=AUDIENCE)
    claims["exp"] = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    expired = jwt.encode(claims, TEST_SECRET, algorithm="HS256")
    r = await api.call(alice, "POST", f"/cards/{card['id']}/attachments/uploads/complete", json={"ticket": expired})
    assert_problem(r, 410, "upload-expired")
    assert await stored_keys(app) == []
    assert await attachment_rows(app) == 0


@pytest.mark.settings(storage_presigned_downloads=True, storage_url_ttl_seconds=120)
async def test_presigned_downloads_redirect_to_the_bucket(api: Api) -> None:
    alice, _, card = await a_card(api)
    att = (await upload(api, alice, card["id"], "page.html", b"<html><script>x</script></html>")).json()
    r = await api.call(alice, "GET", f"/attachments/{att['id']}/content", expect=307)
    assert r.headers["cache-control"] == "no-store"
    query = parse_qs(urlparse(r.headers["location"]).query)
    assert query["X-Amz-Expires"] == ["120"]
    assert query["response-content-disposition"][0].startswith("attachment;")
    async with httpx.AsyncClient() as browser:
        got = await browser.get(r.headers["location"])
    assert got.status_code == 200 and got.content == b"<html><script>x</script></html>"
    assert got.headers["content-type"].startswith("text/html")
    assert got.headers["content-disposition"].startswith("attachment;")
    # a viewer's or outsider's request never gets a URL
    mallory = await api.user("Mallory")
    assert_problem(await api.call(mallory, "GET", f"/attachments/{att['id']}/content"), 404, "not-found")
