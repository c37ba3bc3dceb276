"""Issue 20: photos, voice notes and documents reach the agency.

Signed Meta deliveries go through the real `/meta` door; the queued job is stored by the real
intake worker; `responses` stands in for the Graph API media endpoints (tests/fakes/media_files.py
cites Meta's media reference), for Cloud Storage's JSON API and for Speech-to-Text.
"""
from __future__ import annotations

import base64
import io
from dataclasses import replace

import pytest
import requests
import responses

from functions.attachments.meta_media import MetaMediaFetcher
from functions.attachments.speech import SpeechToText
from functions.bootstrap import build
from functions.cli import main as cli_main
from functions.http_client import HttpClient
from functions.media_store.gcs import GcsMediaStore
from functions.messaging.outbox import OutboxMessenger
from functions.server import make_app
from functions.services.attachments import MediaKit
from functions.services.jobs import daily_job
from tests.draining import drain, draining_client
from tests.fakes import media_files as mf
from tests.fakes import meta_payloads as mp

BUCKET = "kmc-aduan-lampiran-test"
AUTH = {"Authorization": "Basic " + base64.b64encode(b"admin:test-admin-token").decode()}


@pytest.fixture
def msettings(settings):
    return replace(settings, whatsapp_app_secret=mp.APP_SECRET, whatsapp_verify_token=mp.VERIFY_TOKEN,
                   whatsapp_phone_number_id=mp.PHONE_NUMBER_ID, whatsapp_access_token=mf.TOKEN, media_fetch=True)


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def graph(rsps):
    media = mf.GraphMedia()
    media.install(rsps)
    return media


def quick_http() -> HttpClient:
    return HttpClient(timeout=(1, 1), retries=2, backoff=0.0, sleep=lambda s: None, session=requests.Session())


@pytest.fixture
def svc(msettings, clock):
    s = build(msettings, clock=clock, messenger=OutboxMessenger(msettings.outbox_dir))
    s.workbook.bootstrap()
    return s


@pytest.fixture
def cloud(msettings, clock, rsps, graph):
    """The cloud wiring: a Cloud Storage bucket and Speech-to-Text, each behind `responses`."""
    bucket = mf.FakeBucket(BUCKET)
    speech = mf.FakeSpeech("jalan di desa sungai awan rusak parah berlubang besar", bucket=bucket)
    bucket.install(rsps)
    speech.install(rsps)
    store = GcsMediaStore(BUCKET, http=quick_http())
    kit = MediaKit(store, MetaMediaFetcher(msettings.meta_graph_url, mf.TOKEN, http=quick_http()).fetch,
                   SpeechToText(http=quick_http(), bucket=BUCKET, sleep=lambda s: None).transcribe,
                   dict(msettings.media_limits))
    s = build(replace(msettings, media_bucket=BUCKET, transcribe=True), clock=clock,
              messenger=OutboxMessenger(msettings.outbox_dir), attachments=lambda: kit)
    s.workbook.bootstrap()
    return s, bucket, speech


def deliver(svc, *messages):
    body, headers = mp.signed(mp.whatsapp(list(messages)))
    reply = draining_client(svc).post("/meta", data=body, headers=headers)
    assert reply.status_code == 200
    return reply


def rows(svc):
    return [row for tab_rows in svc.workbook.read_all().values() for row in tab_rows]


def only_row(svc):
    found = rows(svc)
    assert len(found) == 1, found
    return found[0]


def open_link(svc, url: str, headers=AUTH):
    assert url.startswith("http://localhost:8080/media/kasus/2026/"), url
    return make_app(svc).test_client().get(url.removeprefix("http://localhost:8080"), headers=headers)


# -- keep the evidence -------------------------------------------------------------------------------

def test_a_photo_is_stored_stripped_and_opened_from_the_row_by_staff_only(svc, graph, clock):
    graph.add("1479537139650973", mf.jpeg(), "image/jpeg")
    deliver(svc, mp.wa_image(caption="Sampah menumpuk di pasar", at=clock()))
    row = only_row(svc)
    assert row["text"] == "Sampah menumpuk di pasar\n[foto]"
    assert "1479537139650973" not in row["link"]  # no Meta id nobody can open
    reply = open_link(svc, row["link"])
    assert reply.status_code == 200 and reply.headers["Content-Type"] == "image/jpeg"
    assert reply.headers["Cache-Control"] == "private, no-store"
    from PIL import Image

    photo = Image.open(io.BytesIO(reply.data))
    assert photo.size == (64, 48) and not photo.getexif()  # the device is gone
    assert b"SAMSUNG" not in reply.data
    anonymous = open_link(svc, row["link"], headers={})
    assert anonymous.status_code == 401 and "WWW-Authenticate" in anonymous.headers
    wrong = open_link(svc, row["link"], headers={"Authorization": "Basic " + base64.b64encode(b"a:salah").decode()})
    assert wrong.status_code == 401


def test_the_door_never_downloads_the_worker_does(svc, graph, clock):
    graph.add("1479537139650973", mf.jpeg(), "image/jpeg")
    body, headers = mp.signed(mp.whatsapp([mp.wa_image(caption="Banjir di Jalan Gajah Mada", at=clock())]))
    assert make_app(svc).test_client().post("/meta", data=body, headers=headers).status_code == 200
    assert graph.hits == [] and rows(svc) == []
    drain(svc)
    assert len(graph.hits) == 2 and "[foto]" in only_row(svc)["text"]


def test_gps_of_a_photo_becomes_the_location_only_when_none_was_given(svc, graph, clock):
    graph.add("1479537139650973", mf.jpeg(gps=(-1.8457, 109.9716)), "image/jpeg")
    deliver(svc, mp.wa_image(caption="Jembatan kayu patah", at=clock()))
    row = only_row(svc)
    assert row["location"] == "-1.8457, 109.9716 (posisi dari foto)"
    assert "https://maps.google.com/?q=-1.8457,109.9716" in row["link"]
    stored = open_link(svc, row["link"].split("\n")[0]).data
    from PIL import Image

    assert not Image.open(io.BytesIO(stored)).getexif().get_ifd(0x8825)  # the position is not in the file


def test_a_second_photo_with_gps_does_not_overwrite_the_citizens_own_location(svc, graph, clock):
    graph.add("1479537139650973", mf.jpeg(gps=(-2.5, 110.5)), "image/jpeg")
    deliver(svc, mp.wa_location(lat=-1.85, lng=109.97, name="Pasar Ketapang", at=clock()))
    clock.advance(minutes=1)
    deliver(svc, mp.wa_image(caption="Ini fotonya", at=clock()))
    row = only_row(svc)
    assert row["location"].startswith("-1.85, 109.97") and "posisi dari foto" not in row["location"]
    assert "Ini fotonya\n[foto]" in row["text"]


def test_a_voice_note_is_kept_with_its_length_and_marked_untranscribed_locally(svc, graph, clock):
    note = mf.ogg_opus(42)
    graph.add("5179537139650977", note, "audio/ogg; codecs=opus")
    deliver(svc, mp.wa_audio(at=clock()))
    row = only_row(svc)
    assert row["text"].startswith("[pesan suara 0:42]\n[belum ditranskripsi")
    reply = open_link(svc, row["link"])
    assert reply.data == note and reply.headers["Content-Type"] == "audio/ogg"


def test_a_document_keeps_its_name_in_the_text(svc, graph, clock):
    graph.add("3179537139650975", mf.pdf(), "application/pdf")
    deliver(svc, mp.wa_document(filename="surat-keterangan.pdf", caption="Surat dari kepala desa", at=clock()))
    row = only_row(svc)
    assert row["text"] == "Surat dari kepala desa\n[dokumen: surat-keterangan.pdf]"
    reply = open_link(svc, row["link"])
    assert reply.data == mf.pdf() and reply.headers["Content-Disposition"].startswith("inline")


def test_messenger_attachments_are_fetched_from_their_url_and_numbered(svc, rsps, clock):
    """Messenger/Instagram `messages` webhooks carry `attachments[].payload.url`, a platform CDN
    link that needs no token and expires on its own schedule (Messenger Platform webhook reference,
    developers.facebook.com/docs/messenger-platform/reference/webhook-events/messages; the same
    contract restated in docs.rs/crate/late .../WebhookPayloadMessageMessageAttachmentsInner.md)."""
    urls = [f"https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id={n}&signature=abc" for n in (1, 2)]
    for url in urls:
        rsps.add("GET", url, body=mf.jpeg(), content_type="image/jpeg")
    payload = mp.messenger([mp.dm_event("2539381862829497", at=clock(), text="Lampu jalan mati",
                                        attachments=[mp.image_attachment(u) for u in urls])], at=clock())
    body, headers = mp.signed(payload)
    assert draining_client(svc).post("/meta", data=body, headers=headers).status_code == 200
    row = only_row(svc)
    assert row["text"] == "Lampu jalan mati\n[foto 1 dari 2]\n[foto 2 dari 2]"
    links = row["link"].split("\n")
    assert len(links) == 2 and all(open_link(svc, u).status_code == 200 for u in links)


# -- what cannot be kept ----------------------------------------------------------------------------

def test_an_expired_media_url_is_noted_in_the_row_and_the_digest_and_the_case_is_stored(svc, graph, clock):
    graph.add("1479537139650973", mf.jpeg(), "image/jpeg")
    graph.expired_urls.add("1479537139650973")
    deliver(svc, mp.wa_image(caption="Pohon tumbang menutup jalan", at=clock()))
    row = only_row(svc)
    assert row["text"].startswith("Pohon tumbang menutup jalan\n[foto tidak dapat disimpan: tautan Meta sudah kedaluwarsa")
    assert row["link"] == "image:1479537139650973"  # what was lost stays named
    clock.advance(hours=1)
    notes = daily_job(svc, dry_run=True).digest.problems
    assert any(row["ticket_id"] in n and "kedaluwarsa" in n for n in notes)


def test_an_oversized_file_is_refused_from_the_declared_size_without_downloading(svc, graph, clock):
    graph.add("2179537139650974", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * (17 * 1024 * 1024), "video/mp4")
    deliver(svc, mp.wa_video(caption="Video jalan amblas", at=clock()))
    row = only_row(svc)
    assert "[video tidak dapat disimpan: berkas 17.0 MB melebihi batas 16 MB]" in row["text"]
    assert not any("lookaside" in h for h in graph.hits)  # refused from file_size, never fetched


def test_bytes_that_are_not_what_the_message_says_are_refused(svc, graph, clock):
    graph.add("1479537139650973", mf.pdf(), "image/jpeg")  # says photo, is a PDF
    deliver(svc, mp.wa_image(caption="Lihat foto ini", at=clock()))
    row = only_row(svc)
    assert "[foto tidak dapat disimpan: isi berkas (application/pdf) tidak sesuai jenis foto]" in row["text"]
    assert not (svc.settings.data_dir / "media").exists() or not any((svc.settings.data_dir / "media").rglob("*.pdf"))


# -- in the cloud: Cloud Storage and Speech-to-Text ----------------------------------------------------

def test_in_the_cloud_a_voice_note_is_stored_in_the_bucket_transcribed_and_routed(cloud, graph, clock):
    svc, bucket, speech = cloud
    note = mf.ogg_opus(15)
    graph.add("5179537139650977", note, "audio/ogg; codecs=opus")
    deliver(svc, mp.wa_audio(at=clock()))
    row = only_row(svc)
    assert row["text"] == ("[pesan suara 0:15]\n[transkrip otomatis] jalan di desa sungai awan rusak parah "
                           "berlubang besar")
    tabs = {tab: r for tab, r in svc.workbook.read_all().items() if r}
    assert list(tabs) == ["PUTR"]  # routed on the transcript, not left in triage
    assert row["sentiment"] == "Negatif"  # and read for negativity (a bare "[pesan suara]" is Netral)
    name = row["link"].removeprefix(f"https://storage.cloud.google.com/{BUCKET}/")
    assert name.startswith("kasus/2026/") and bucket.objects[name] == (note, "audio/ogg")
    config = speech.requests[0]["config"]
    assert config["languageCode"] == "id-ID" and config["encoding"] == "OGG_OPUS" and config["sampleRateHertz"] == 16000


def test_a_voice_note_over_a_minute_is_read_from_the_bucket_asynchronously(cloud, graph, clock):
    svc, bucket, speech = cloud
    graph.add("5179537139650977", mf.ogg_opus(95), "audio/ogg; codecs=opus")
    deliver(svc, mp.wa_audio(at=clock()))
    row = only_row(svc)
    assert row["text"].startswith("[pesan suara 1:35]\n[transkrip otomatis] jalan di desa sungai awan")
    name = row["link"].removeprefix(f"https://storage.cloud.google.com/{BUCKET}/")
    assert speech.requests[0]["audio"] == {"uri": f"gs://{BUCKET}/{name}"} and speech.polls == 2


def test_a_voice_note_over_five_minutes_is_kept_untranscribed(cloud, graph, clock):
    svc, bucket, speech = cloud
    graph.add("5179537139650977", mf.ogg_opus(400), "audio/ogg; codecs=opus")
    deliver(svc, mp.wa_audio(at=clock()))
    row = only_row(svc)
    assert row["text"] == ("[pesan suara 6:40]\n[tidak ditranskripsi otomatis (terlalu panjang); dengarkan pesan "
                           "suara di kolom Tautan]")
    assert speech.requests == [] and len(bucket.objects) == 1


def test_in_the_cloud_a_photo_is_stripped_before_upload(cloud, graph, clock):
    svc, bucket, _ = cloud
    graph.add("1479537139650973", mf.jpeg(gps=(-1.8457, 109.9716)), "image/jpeg")
    deliver(svc, mp.wa_image(caption="Drainase tersumbat", at=clock()))
    row = only_row(svc)
    link = row["link"].split("\n")[0]
    assert link.startswith(f"https://storage.cloud.google.com/{BUCKET}/kasus/2026/")
    data, mime = bucket.objects[link.removeprefix(f"https://storage.cloud.google.com/{BUCKET}/")]
    assert mime == "image/jpeg" and b"SAMSUNG" not in data and b"Exif" not in data


def test_a_failed_transcription_never_loses_the_note(cloud, graph, clock, rsps):
    svc, bucket, speech = cloud
    speech.status = 503
    graph.add("5179537139650977", mf.ogg_opus(20), "audio/ogg; codecs=opus")
    deliver(svc, mp.wa_audio(at=clock()))
    row = only_row(svc)
    assert row["text"] == "[pesan suara 0:20]\n[transkrip otomatis gagal; dengarkan pesan suara di kolom Tautan]"
    assert len(bucket.objects) == 1 and len(speech.requests) == 3  # retried within the budget, then given up


def test_a_bucket_that_is_down_makes_the_job_wait_not_lose_the_message(cloud, graph, clock, rsps):
    svc, bucket, _ = cloud
    bucket.down = True
    graph.add("1479537139650973", mf.jpeg(), "image/jpeg")
    reply = deliver(svc, mp.wa_image(caption="Jalan berlubang", at=clock()))
    assert reply.stored == [] and reply.drained.retry_later and rows(svc) == []
    bucket.down = False  # the bucket is back: the same job, due again later, stores the case and its photo
    later = svc.queue.clock() + 3600
    svc.queue.clock = lambda: later
    report = drain(svc)
    assert [r.action for r in report.results] == ["created"] and len(bucket.objects) == 1
    assert "[foto]" in only_row(svc)["text"]


# -- forget and archive ---------------------------------------------------------------------------

def _env(svc) -> dict:
    return {"KMC_DATA_DIR": str(svc.settings.data_dir), "KMC_ADMIN_TOKEN": "test-admin-token"}


def test_forget_deletes_the_files_and_says_so_in_the_row(svc, graph, clock, capsys):
    graph.add("1479537139650973", mf.jpeg(), "image/jpeg")
    deliver(svc, mp.wa_image(caption="Sampah di sungai", at=clock()))
    row = only_row(svc)
    assert open_link(svc, row["link"]).status_code == 200
    assert cli_main(["forget", row["ticket_id"]], env=_env(svc)) == 0
    assert "1 lampiran" in capsys.readouterr().out
    assert open_link(svc, row["link"]).status_code == 404
    assert not list((svc.settings.data_dir / "media").rglob("*.jpg"))
    assert only_row(svc)["link"] == "[lampiran dihapus atas permintaan pelapor (UU 27/2022)]"


def test_archive_moves_the_files_with_the_case(svc, graph, clock, capsys):
    graph.add("1479537139650973", mf.jpeg(), "image/jpeg")
    deliver(svc, mp.wa_image(caption="Sampah di sungai", at=clock()))
    row = only_row(svc)
    from functions.stores.port import CellUpdate

    svc.workbook.update([CellUpdate(row["ticket_id"], {"status": "Selesai", "response": "Sudah dibersihkan"})],
                        staff=True)
    assert cli_main(["archive", "--before", "2026-12-01"], env=_env(svc)) == 0
    assert "1 lampiran dipindahkan" in capsys.readouterr().out
    assert rows(svc) == []
    from functions.stores.local import LocalWorkbook

    archived = LocalWorkbook(svc.settings.data_dir / "archive-2026.sqlite", svc.schema).find(row["ticket_id"]).row
    assert archived["link"].startswith("http://localhost:8080/media/arsip/2026/")
    reply = make_app(svc).test_client().get(archived["link"].removeprefix("http://localhost:8080"), headers=AUTH)
    assert reply.status_code == 200 and reply.headers["Content-Type"] == "image/jpeg"
    assert open_link(svc, row["link"]).status_code == 404  # the old place is empty


# -- the web form takes photos ---------------------------------------------------------------------

def _form_browser(svc):
    from tests.entrypoints.test_web_form import Browser

    return Browser(make_app(svc))


def test_the_form_states_the_photo_limits_before_submitting(svc):
    page = _form_browser(svc).get("/form").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page and page.count('type="file"') == 3
    assert "Paling banyak 3 foto JPG, PNG atau WebP, masing-masing paling besar 5 MB" in page
    assert "<script" not in page


def test_a_form_photo_is_stripped_filed_with_the_case_and_only_counted_on_the_status_page(svc):
    from tests.entrypoints.test_web_form import filled, ticket_of

    browser = _form_browser(svc)
    photo = mf.jpeg(gps=(-1.8457, 109.9716))
    reply = browser.submit(**filled(kecamatan="", desa=""), foto=[(io.BytesIO(photo), "IMG_20261102.jpg")])
    assert reply.status_code == 200
    ticket = ticket_of(reply)
    row = only_row(svc)
    assert row["ticket_id"] == ticket and row["text"].endswith("\n[foto]")
    assert row["location"] == "-1.8457, 109.9716 (posisi dari foto)"
    stored = open_link(svc, row["link"])
    assert stored.status_code == 200 and b"SAMSUNG" not in stored.data and b"Exif" not in stored.data
    assert not list((svc.settings.data_dir / "media" / "masuk").rglob("*-1"))  # the raw upload is gone
    status = browser.get(f"/form/status?tiket={ticket}").get_data(as_text=True)
    assert "1 foto terlampir (hanya dapat dilihat petugas)" in status
    assert "/media/" not in status and "<img" not in status


@pytest.mark.parametrize("photos, message", [
    ([mf.jpeg()] * 4, "Paling banyak 3 foto."),
    ([mf.pdf()], "Foto ke-1 bukan foto JPG, PNG atau WebP"),
    ([mf.jpeg(), mf.jpeg(size=(2400, 2400)) + b"\x00" * (5 * 1024 * 1024)], "Foto ke-2 terlalu besar"),
])
def test_bad_form_photos_are_refused_in_indonesian_and_nothing_is_stored(svc, photos, message):
    from tests.entrypoints.test_web_form import filled

    browser = _form_browser(svc)
    reply = browser.submit(**filled(), foto=[(io.BytesIO(p), f"foto{n}.jpg") for n, p in enumerate(photos)])
    assert reply.status_code == 422 and message in reply.get_data(as_text=True)
    assert rows(svc) == [] and not (svc.settings.data_dir / "media").exists()


def test_a_shared_post_stays_a_link_and_only_real_media_are_fetched(svc, rsps, clock):
    photo = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=9&signature=abc"
    rsps.add("GET", photo, body=mf.jpeg(), content_type="image/jpeg")
    shared = {"type": "share", "payload": {"url": "https://www.instagram.com/p/C0abcDEF/"}}
    payload = mp.instagram([mp.dm_event("17841401234567890", at=clock(), text="Lihat postingan ini, jalan rusak",
                                        attachments=[shared, mp.image_attachment(photo)])], at=clock())
    body, headers = mp.signed(payload)
    assert draining_client(svc).post("/meta", data=body, headers=headers).status_code == 200
    row = only_row(svc)
    assert row["text"] == "Lihat postingan ini, jalan rusak\n[foto]"
    links = row["link"].split("\n")
    assert links[0] == "share:https://www.instagram.com/p/C0abcDEF/" and links[1].startswith("http://localhost:8080/media/")
    assert [c.request.url for c in rsps.calls] == [photo]  # the post page itself was never fetched


def test_a_retried_job_keeps_the_file_its_first_attempt_stored_after_meta_s_link_expired(svc, graph, clock):
    """Sheets was down after the photo was stored; when the job runs again Meta's link is gone."""
    from functions.model import StorageUnavailable

    graph.add("1479537139650973", mf.jpeg(), "image/jpeg")
    real_append = svc.workbook.append
    svc.workbook.append = lambda *a, **k: (_ for _ in ()).throw(StorageUnavailable("Sheets 503"))
    reply = deliver(svc, mp.wa_image(caption="Saluran air tersumbat", at=clock()))
    assert reply.stored == [] and rows(svc) == []
    svc.workbook.append = real_append
    graph.expired_ids.add("1479537139650973")
    later = svc.queue.clock() + 3600
    svc.queue.clock = lambda: later
    assert [r.action for r in drain(svc).results] == ["created"]
    row = only_row(svc)
    assert row["text"] == "Saluran air tersumbat\n[foto]" and open_link(svc, row["link"]).status_code == 200


def test_a_form_body_too_large_for_three_photos_gets_an_indonesian_413(svc):
    from tests.entrypoints.test_web_form import filled

    big = mf.jpeg() + b"\x00" * (6 * 1024 * 1024)
    reply = _form_browser(svc).submit(**filled(), foto=[(io.BytesIO(big), f"f{n}.jpg") for n in range(3)])
    page = reply.get_data(as_text=True)
    assert reply.status_code == 413 and "Foto: paling banyak 3, masing-masing paling besar 5 MB." in page
    assert rows(svc) == [] and not (svc.settings.data_dir / "media").exists()
