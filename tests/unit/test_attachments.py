"""Attachments: what a file is from its bytes, a voice note's length, the media store contract
(local disk and Cloud Storage behind `responses`), downloads capped at the limit."""
from __future__ import annotations

import pytest
import requests
import responses

from functions.attachments.images import clean_image
from functions.attachments.sniff import clock_text, opus_seconds, sniff
from functions.http_client import HttpClient
from functions.media_store.gcs import GcsMediaStore
from functions.media_store.local import LocalMediaStore
from functions.services.attachments import parse_ref
from tests.fakes import media_files as mf


@pytest.mark.parametrize("data, family, mime", [
    (mf.jpeg(), "image", "image/jpeg"),
    (mf.png(), "image", "image/png"),
    (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image", "image/webp"),
    (mf.ogg_opus(3), "audio", "audio/ogg"),
    (b"#!AMR\n" + b"\x00" * 20, "audio", "audio/amr"),
    (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00", "audio", "audio/mp4"),
    (b"\x00\x00\x00\x18ftyp3gp4\x00\x00\x00\x00", "video", "video/3gpp"),
    (b"\x00\x00\x00\x18ftypisom\x00\x00\x00\x00", "video", "video/mp4"),
    (mf.pdf(), "document", "application/pdf"),
    (mf.docx(), "document", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("Laporan warga RT 03\n".encode(), "document", "text/plain"),
])
def test_the_bytes_decide_what_a_file_is(data, family, mime):
    found = sniff(data)
    assert (found.family, found.mime) == (family, mime)


def test_binary_garbage_is_nothing_we_accept():
    assert sniff(b"\x00\x01\x02\x03" * 50) is None and sniff(b"") is None


@pytest.mark.parametrize("seconds, shown", [(42, "0:42"), (65.4, "1:05"), (3, "0:03")])
def test_a_voice_note_s_length_comes_from_its_ogg_opus_header(seconds, shown):
    assert clock_text(opus_seconds(mf.ogg_opus(seconds))) == shown


def test_an_ogg_without_opus_has_no_length():
    assert opus_seconds(b"OggS" + b"\x00" * 60) is None and opus_seconds(mf.pdf()) is None


def test_a_photo_loses_exif_keeps_its_pixels_and_reports_its_position():
    clean = clean_image(mf.jpeg(gps=(-1.8457, 109.9716), size=(80, 60)))
    assert clean.gps == (-1.8457, 109.9716) and clean.mime == "image/jpeg"
    from io import BytesIO

    from PIL import Image

    img = Image.open(BytesIO(clean.data))
    assert img.size == (80, 60) and not img.getexif() and b"SAMSUNG" not in clean.data


def test_transparent_images_stay_png():
    assert clean_image(mf.png()).mime == "image/png"


@pytest.mark.parametrize("ref, parsed", [
    ("image:1479537139650973", ("image", "1479537139650973", "")),
    ("document:3179537139650975 (surat (1).pdf)", ("document", "3179537139650975", "surat (1).pdf")),
    ("audio:https://lookaside.fbsbx.com/x?a=1", ("audio", "https://lookaside.fbsbx.com/x?a=1", "")),
])
def test_media_references_are_read_back(ref, parsed):
    assert parse_ref(ref) == parsed


# -- the store contract: the same behaviour on disk and in Cloud Storage ----------------------------

@pytest.fixture(params=["local", "gcs"])
def store(request, tmp_path):
    if request.param == "local":
        yield LocalMediaStore(tmp_path / "media", "http://localhost:8080")
        return
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        bucket = mf.FakeBucket("kmc-uji")
        bucket.install(rsps)
        yield GcsMediaStore("kmc-uji", http=HttpClient(retries=0, sleep=lambda s: None, session=requests.Session()))


def test_store_put_get_copy_delete(store):
    name = "kasus/2026/KMC-261102-7JS7R-1.jpg"
    assert store.get(name) is None and not store.exists(name)
    store.put(name, b"\xff\xd8\xffdata", "image/jpeg")
    assert store.get(name) == (b"\xff\xd8\xffdata", "image/jpeg") and store.exists(name)
    store.copy(name, "arsip/2026/KMC-261102-7JS7R-1.jpg")
    assert store.get("arsip/2026/KMC-261102-7JS7R-1.jpg")[0] == b"\xff\xd8\xffdata"
    assert store.delete(name) and not store.delete(name) and store.get(name) is None
    assert store.name_of(store.url("arsip/2026/KMC-261102-7JS7R-1.jpg")) == "arsip/2026/KMC-261102-7JS7R-1.jpg"


@pytest.mark.parametrize("name", ["../etc/passwd", "kasus/2026/../../x", "/abs/path", "lain/2026/x.jpg",
                                  "kasus/26/x.jpg", "kasus/2026/.hidden"])
def test_store_refuses_names_it_never_writes(store, name):
    with pytest.raises(ValueError):
        store.put(name, b"x", "text/plain")
    assert store.name_of(store.url("kasus/2026/a.jpg").replace("kasus/2026/a.jpg", name)) is None


def test_gcs_links_are_the_authenticated_browser_address_never_a_public_one():
    store = GcsMediaStore("kmc-uji", session_factory=requests.Session)
    assert store.url("kasus/2026/a.jpg") == "https://storage.cloud.google.com/kmc-uji/kasus/2026/a.jpg"
    assert store.name_of("https://storage.googleapis.com/kmc-uji/kasus/2026/a.jpg") is None


@responses.activate
def test_a_download_stops_reading_past_the_limit():
    responses.add("GET", "https://lookaside.fbsbx.com/big", body=b"\x00" * (3 * 1024 * 1024))
    reply = HttpClient(retries=0, session=requests.Session()).request(
        "GET", "https://lookaside.fbsbx.com/big", max_bytes=1024 * 1024)
    assert reply.ok and len(reply.body) == 1024 * 1024 + 1
