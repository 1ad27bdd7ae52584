"""Pure logic of attachments: file names, content sniffing, byte ranges, thumbnails."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from orbitask.core.ranges import RangeNotSatisfiable, parse_range
from orbitask.tasks.attachments import attachment_id_of, object_key, thumbnail_key
from orbitask.tasks.files import is_inline, make_thumbnail, sanitize_filename, sniff_content_type


@pytest.mark.parametrize(("raw", "clean"), [
    ("report.pdf", "report.pdf"),
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\ada\\Desktop\\plan.docx", "plan.docx"),
    ("tab\there\nnew\rline\x00.txt", "tab_here_new_line_.txt"),
    ("\u202etxt.exe", "txt.exe"),
    ("...", "file"),
    ("", "file"),
    ("Cafe\u0301.png", "Café.png"),
    ("a" * 300 + ".tar.gz", "a" * 252 + ".gz"),
    ("é" * 200 + ".png", "é" * 125 + ".png"),
])
def test_sanitize_filename(raw: str, clean: str) -> None:
    assert sanitize_filename(raw) == clean
    assert len(sanitize_filename(raw).encode()) <= 255


@pytest.mark.parametrize(("head", "name", "expected"), [
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, "x.txt", "image/png"),
    (b"%PDF-1.7\n", "x.png", "application/pdf"),
    (b"  <!DOCTYPE HTML><p>hi", "x.txt", "text/html"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "x.png", "image/svg+xml"),
    (b"\xef\xbb\xbf<?xml version='1.0'?><note/>", "x.txt", "application/xml"),
    (b"hello world", "notes.md", "text/markdown"),
    (b'{"a": 1}', "data.json", "application/json"),
    (b"plain words", "script.js", "text/plain"),
    (b"caf\xc3", "cut.txt", "text/plain"),  # a multi-byte character cut at the end of the sample
    (b"\xff\xfe\x00binary", "x.txt", "application/octet-stream"),
])
def test_sniff_content_type(head: bytes, name: str, expected: str) -> None:
    assert sniff_content_type(head, name) == expected


def test_only_passive_types_are_inline() -> None:
    assert is_inline("image/png") and is_inline("application/pdf") and is_inline("text/plain")
    for active in ("text/html", "image/svg+xml", "application/xml", "application/octet-stream", "application/json",
                   "text/javascript"):
        assert not is_inline(active)


@pytest.mark.parametrize(("header", "expected"), [
    (None, None), ("bytes=0-9", (0, 10)), ("bytes=90-", (90, 10)), ("bytes=-5", (95, 5)), ("bytes=-500", (0, 100)),
    ("bytes=50-5000", (50, 50)), ("bytes=0-1,4-5", None), ("items=0-1", None), ("bytes=9-3", None), ("junk", None),
])
def test_parse_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=-0", "bytes=200-300"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable) as info:
        parse_range(header, 100)
    assert info.value.headers == {"Content-Range": "bytes */100"}


def test_keys_name_their_attachment() -> None:
    import uuid

    some = uuid.uuid4()
    assert attachment_id_of(object_key(some)) == some == attachment_id_of(thumbnail_key(some))
    assert attachment_id_of("attachments/not-a-uuid/original") is None
    assert attachment_id_of("elsewhere/x") is None


def test_thumbnails(tmp_path: Path) -> None:
    path = tmp_path / "wide.jpg"
    Image.new("RGB", (4000, 1000), "teal").save(path, "JPEG")
    data, width, height = make_thumbnail(path)  # type: ignore[misc]
    assert (width, height) == (4000, 1000)
    assert Image.open(io.BytesIO(data)).size == (640, 160)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    assert make_thumbnail(broken) is None
    bomb = tmp_path / "bomb.png"
    Image.new("1", (10000, 10000)).save(bomb, "PNG")  # 100 megapixels in a small file
    assert bomb.stat().st_size < 100_000 and make_thumbnail(bomb) is None
