"""The citizen's conversation: greeting, complaint over several messages, commands, floods."""
from __future__ import annotations

from datetime import timedelta

import pytest

from functions.model import ANONYMOUS, Channel, Status
from functions.services.conversation import (
    FloodLimiter, Inbound, handle_inbound, is_greeting, parse_command,
)
from functions.stores.local import LocalWorkbook
from tests.fakes import meta_payloads as mp
from tests.fakes.messenger import FakeMessenger

WA = "6281234567801"


def inbound(clock, text="", *, kind="text", sender=WA, minutes=0, **kw) -> Inbound:
    return Inbound(channel=kw.pop("channel", Channel.WHATSAPP), message_id=kw.pop("message_id", mp.wamid()),
                   sender=sender, sent_at=clock() + timedelta(minutes=minutes), kind=kind, text=text,
                   name=kw.pop("name", "Budi Santoso"), phone=kw.pop("phone", sender if sender.isdigit() else ""),
                   **kw)


@pytest.fixture
def messenger():
    return FakeMessenger()


def handle(svc, messenger, msg, **kw):
    return handle_inbound(svc, msg, messenger=messenger, limiter=kw.pop("limiter", FloodLimiter()), **kw)


def all_rows(svc):
    return [(tab, row) for tab, rows in svc.workbook.read_all().items() for row in rows]


# -- recognising greetings and commands ------------------------------------------------------

@pytest.mark.parametrize("text", [
    "Assalamualaikum min", "halo", "Selamat pagi pak", "mau lapor", "Permisi min, mau lapor",
    "P", "pppp", "min mau ngadu", "tes", "Halo kak, boleh tanya?",
])
def test_bare_greetings_are_recognised(text):
    assert is_greeting(text)


@pytest.mark.parametrize("text", [
    "halo min jalan di desa sungai awan rusak", "mau lapor lampu jalan mati", "lapor banjir di sandai",
    "Assalamualaikum, sampah numpuk 3 hari",
])
def test_greeting_with_content_is_a_complaint(text):
    assert not is_greeting(text)


@pytest.mark.parametrize("text,expected", [
    ("STATUS KMC-261102-AB3X9", ("status", "KMC-261102-AB3X9")),
    ("status kmc 261102 ab3x9", ("status", "KMC-261102-AB3X9")),
    ("cek KMC261102AB3X9", ("status", "KMC-261102-AB3X9")),
    ("Cek: kmc-261102-ab3x9 min", ("status", "KMC-261102-AB3X9")),
    ("BATAL KMC-261102-AB3X9", ("batal", "KMC-261102-AB3X9")),
    ("status", ("status", None)),
    ("ANONIM", ("anonim", None)),
])
def test_commands_with_any_spacing_or_dashes(text, expected):
    assert parse_command(text, "KMC")[:2] == expected


def test_a_complaint_starting_with_a_command_word_is_not_a_command():
    assert parse_command("status jalan di desa kami sudah rusak tiga bulan", "KMC") is None


# -- the conversation ---------------------------------------------------------------------------

def test_greeting_gets_a_guide_and_no_ticket(svc, clock, messenger):
    out = handle(svc, messenger, inbound(clock, "Assalamualaikum min, mau lapor"))
    assert out.action == "guide" and not out.ticket
    assert all_rows(svc) == []
    assert "STATUS" in messenger.texts_to(WA)[0] and "apa masalahnya" in messenger.texts_to(WA)[0]


def test_new_complaint_is_stored_then_acknowledged_with_ticket_opd_promise_and_privacy(svc, clock, messenger):
    out = handle(svc, messenger, inbound(clock, "Jalan di Desa Sungai Awan Kiri rusak parah, banyak lubang"))
    assert out.action == "created"
    stored = svc.workbook.find(out.ticket)
    assert stored.tab == "PUTR" and stored.row["reporter"] == "Budi S." and stored.row["contact"] == "0812****7801"
    assert svc.contacts.get(out.ticket).contact.channel_user_id == WA
    ack = messenger.texts_to(WA)[0]
    assert out.ticket in ack and "Pekerjaan Umum" in ack and "2 x 24 jam" in ack
    assert f"STATUS {out.ticket}" in ack and f"/form/status?tiket={out.ticket}" in ack
    assert "UU 27/2022" in ack


def test_ticket_derives_from_message_id_and_message_time(svc, clock, messenger):
    msg = inbound(clock, "Lampu jalan di Jalan Gajah Mada mati", minutes=-3 * 24 * 60)  # sent 3 days ago
    out = handle(svc, messenger, msg)
    assert out.ticket.startswith(f"KMC-{msg.sent_at:%y%m%d}-")
    assert svc.workbook.find(out.ticket).row["received_at"] == msg.sent_at


def test_follow_ups_within_the_window_join_the_case(svc, clock, messenger):
    first = handle(svc, messenger, inbound(clock, "Sampah di depan pasar kota numpuk sudah seminggu"))
    handle(svc, messenger, inbound(clock, "baunya sampai ke rumah warga", minutes=5))
    photo = handle(svc, messenger, inbound(clock, "ini fotonya", kind="media", media=("image:1479537139650973",),
                                           minutes=7))
    place = handle(svc, messenger, inbound(clock, "Pasar Kota", kind="location", minutes=9,
                                           location="-1.8457, 109.9716 (Kecamatan Delta Pawan)",
                                           link="https://maps.google.com/?q=-1.8457,109.9716"))
    assert photo.action == place.action == "joined" and photo.ticket == place.ticket == first.ticket
    rows = all_rows(svc)
    assert len(rows) == 1
    row = rows[0][1]
    assert row["text"].splitlines() == [
        "Sampah di depan pasar kota numpuk sudah seminggu", "baunya sampai ke rumah warga", "ini fotonya",
        "[Lokasi dibagikan: -1.8457, 109.9716 (Kecamatan Delta Pawan) — Pasar Kota]"]
    assert "image:1479537139650973" in row["link"] and "maps.google.com/?q=-1.8457,109.9716" in row["link"]
    assert row["location"] == "-1.8457, 109.9716 (Kecamatan Delta Pawan)"
    assert any("Lokasi diterima" in t for t in messenger.texts_to(WA))


def test_voice_note_is_a_placeholder_never_invented_text(svc, clock, messenger):
    out = handle(svc, messenger, inbound(clock, "[pesan suara]", kind="audio", media=("audio:5179537139650977",)))
    row = svc.workbook.find(out.ticket).row
    assert row["text"] == "[pesan suara]" and row["link"] == "audio:5179537139650977"
    assert "tuliskan juga" in messenger.texts_to(WA)[0]


def test_message_after_the_window_starts_a_new_case(svc, clock, messenger):
    first = handle(svc, messenger, inbound(clock, "Lampu jalan di Jalan Merdeka mati"))
    later = handle(svc, messenger, inbound(clock, "Air PDAM tidak mengalir tiga hari", minutes=31))
    assert later.action == "created" and later.ticket != first.ticket


def test_message_does_not_join_a_case_staff_already_touched(svc, clock, messenger):
    first = handle(svc, messenger, inbound(clock, "Lampu jalan di Jalan Merdeka mati"))
    svc.workbook.update([_staff(first.ticket, status=Status.IN_PROGRESS)], staff=True)
    later = handle(svc, messenger, inbound(clock, "ini tambahan foto", kind="media", media=("image:9",), minutes=2))
    assert later.action == "created" and later.ticket != first.ticket


def test_another_sender_never_joins_someone_elses_case(svc, clock, messenger):
    first = handle(svc, messenger, inbound(clock, "Jalan rusak di Desa Kuala Satong"))
    other = handle(svc, messenger, inbound(clock, "Jembatan di Desa Pemahan patah", sender="6281234567999",
                                           minutes=1))
    assert other.action == "created" and other.ticket != first.ticket


def test_redelivered_follow_up_is_not_appended_twice_even_after_restart(svc, clock, messenger, settings):
    first = handle(svc, messenger, inbound(clock, "Parit di Jalan Merdeka tersumbat"))
    follow = inbound(clock, "air naik ke rumah warga tiap hujan", minutes=3)
    assert handle(svc, messenger, follow).action == "joined"
    from functions.bootstrap import build  # a fresh process: new store objects on the same files
    again = build(settings, clock=clock)
    assert handle(again, messenger, follow).action == "duplicate"
    assert svc.workbook.find(first.ticket).row["text"].count("air naik") == 1


def test_redelivered_first_message_gives_the_same_ticket_and_no_second_ack(svc, clock, messenger):
    msg = inbound(clock, "Puskesmas di Kecamatan Sandai sering tutup jam 11")
    first = handle(svc, messenger, msg)
    second = handle(svc, messenger, msg)
    assert second.action == "redelivered" and second.ticket == first.ticket
    assert len(all_rows(svc)) == 1 and len(messenger.sent) == 1


def test_thanks_after_the_ack_is_neither_a_case_nor_appended(svc, clock, messenger):
    first = handle(svc, messenger, inbound(clock, "Jalan berlubang di depan SD 3 Delta Pawan"))
    assert handle(svc, messenger, inbound(clock, "Terima kasih min", minutes=1)).action == "thanks"
    assert svc.workbook.find(first.ticket).row["text"] == "Jalan berlubang di depan SD 3 Delta Pawan"


# -- commands -----------------------------------------------------------------------------------

def test_status_answers_the_owner_with_status_opd_and_response(svc, clock, messenger):
    first = handle(svc, messenger, inbound(clock, "Sampah di depan pasar kota numpuk"))
    svc.workbook.update([_staff(first.ticket, status=Status.DONE, response="Sudah diangkut pagi ini.")], staff=True)
    out = handle(svc, messenger, inbound(clock, f"cek {first.ticket.lower().replace('-', ' ')}", minutes=40))
    assert out.action == "status"
    answer = messenger.texts_to(WA)[-1]
    assert "Status: Selesai" in answer and "Lingkungan Hidup" in answer and "Sudah diangkut pagi ini." in answer


def test_status_is_refused_to_anyone_else(svc, clock, messenger):
    first = handle(svc, messenger, inbound(clock, "Sampah di depan pasar kota numpuk"))
    svc.workbook.update([_staff(first.ticket, response="Sudah diangkut.")], staff=True)
    stranger = "6289999999999"
    handle(svc, messenger, inbound(clock, f"STATUS {first.ticket}", sender=stranger, minutes=1))
    answer = messenger.texts_to(stranger)[-1]
    assert "tidak ditemukan" in answer and "Sudah diangkut" not in answer and "Lingkungan" not in answer


def test_status_without_ticket_answers_about_the_latest_case(svc, clock, messenger):
    first = handle(svc, messenger, inbound(clock, "KTP saya belum jadi tiga bulan"))
    handle(svc, messenger, inbound(clock, "status", minutes=45))
    assert first.ticket in messenger.texts_to(WA)[-1]


def test_batal_withdraws_and_the_opd_sees_it(svc, clock, messenger):
    first = handle(svc, messenger, inbound(clock, "Lampu PJU di Jalan Gajah Mada mati"))
    out = handle(svc, messenger, inbound(clock, f"BATAL {first.ticket}", minutes=40))
    assert out.action == "withdrawn" and "dibatalkan" in messenger.texts_to(WA)[-1]
    assert "Dibatalkan oleh pelapor" in svc.workbook.find(first.ticket).row["note"]
    # a withdrawn case no longer collects follow-ups
    again = handle(svc, messenger, inbound(clock, "Lampu PJU di Jalan Merdeka juga mati", minutes=41))
    assert again.ticket != first.ticket


def test_batal_refused_for_a_closed_case_and_for_strangers(svc, clock, messenger):
    first = handle(svc, messenger, inbound(clock, "Lampu PJU di Jalan Gajah Mada mati"))
    handle(svc, messenger, inbound(clock, f"BATAL {first.ticket}", sender="6289999999999", minutes=1))
    assert "Dibatalkan" not in svc.workbook.find(first.ticket).row["note"]
    svc.workbook.update([_staff(first.ticket, status=Status.DONE, response="Sudah diganti.")], staff=True)
    handle(svc, messenger, inbound(clock, f"BATAL {first.ticket}", minutes=2))
    assert "tidak dapat dibatalkan" in messenger.texts_to(WA)[-1]
    assert "Dibatalkan" not in svc.workbook.find(first.ticket).row["note"]


def test_anonim_hides_the_name_from_the_opd_and_flags_the_contact(svc, clock, messenger):
    first = handle(svc, messenger, inbound(clock, "Pungli di kantor desa saat urus surat"))
    assert svc.workbook.find(first.ticket).row["reporter"] == "Budi S."
    handle(svc, messenger, inbound(clock, "ANONIM", minutes=2))
    row = svc.workbook.find(first.ticket).row
    assert row["reporter"] == ANONYMOUS and row["contact"] == ""
    record = svc.contacts.get(first.ticket)
    assert record.contact.anonymous and record.contact.channel_user_id == WA  # replies still reach them
    later = handle(svc, messenger, inbound(clock, "Jalan rusak di Desa Tanjung Pura", minutes=90))
    assert svc.workbook.find(later.ticket).row["reporter"] == ANONYMOUS


def test_anonim_with_a_complaint_files_it_anonymously(svc, clock, messenger):
    out = handle(svc, messenger, inbound(clock, "ANONIM pegawai kecamatan minta uang untuk urus KTP"))
    assert out.action == "created"
    row = svc.workbook.find(out.ticket).row
    assert row["reporter"] == ANONYMOUS and row["text"].startswith("pegawai kecamatan")


# -- floods, bad input, business-scoped ids ---------------------------------------------------

def test_flood_from_one_sender_is_limited_with_one_polite_answer(svc, clock, messenger):
    limiter = FloodLimiter(max_messages=5, period=timedelta(minutes=10))
    actions = [handle(svc, messenger, inbound(clock, f"pesan ke {i} jalan rusak di desa {i}"), limiter=limiter).action
               for i in range(9)]
    assert actions[:5].count("rate_limited") == 0 and actions[5:] == ["rate_limited"] * 4
    polite = [t for t in messenger.texts_to(WA) if "terlalu banyak" in t]
    assert len(polite) == 1
    other = handle(svc, messenger, inbound(clock, "Jalan rusak di Marau", sender="6281111111111"), limiter=limiter)
    assert other.action == "created"
    clock.advance(minutes=11)
    assert handle(svc, messenger, inbound(clock, "Lampu mati di Desa Sukabangun"), limiter=limiter).action != "rate_limited"


def test_formula_and_bidi_text_is_stored_as_plain_text(svc, clock, messenger):
    out = handle(svc, messenger, inbound(clock, "=HYPERLINK(\"http://x\",\"klik\") jalan \u202erusak\u202c parah"))
    assert svc.workbook.find(out.ticket).row["text"] == "=HYPERLINK(\"http://x\",\"klik\") jalan rusak parah"


def test_an_over_long_text_is_stored_whole_privately_and_cut_visibly_in_the_cell(svc, clock, messenger):
    # issue 16, item 26: a citizen's message is never refused for its content (it used to be
    # answered "terlalu panjang" and lost)
    text = "jalan rusak di desa kami " + "x" * 999_975
    out = handle(svc, messenger, inbound(clock, text))
    assert out.action == "created" and "Nomor tiket" in messenger.texts_to(WA)[0]
    cell = svc.workbook.find(out.ticket).row["text"]
    assert len(cell) <= 50_000 and cell.endswith("…[dipotong, 1.000.000 karakter]")
    assert cell.startswith("jalan rusak di desa kami")
    assert svc.contacts.full_text(out.ticket) == text


def test_business_scoped_user_without_phone_is_keyed_on_its_id(svc, clock, messenger):
    bsuid = "ID.1410018717833190"
    first = handle(svc, messenger, inbound(clock, "Jalan rusak di Desa Sungai Awan", sender=bsuid, phone=""))
    record = svc.contacts.get(first.ticket)
    assert record.contact.channel_user_id == bsuid and record.contact.phone == ""
    assert svc.workbook.find(first.ticket).row["contact"] == ""
    joined = handle(svc, messenger, inbound(clock, "sudah 2 bulan", sender=bsuid, phone="", minutes=3))
    assert joined.ticket == first.ticket
    handle(svc, messenger, inbound(clock, f"status {first.ticket}", sender=bsuid, phone="", minutes=40))
    assert first.ticket in messenger.texts_to(bsuid)[-1] and "Status: Baru" in messenger.texts_to(bsuid)[-1]


def test_public_comments_become_cases_answered_privately_but_praise_is_ignored(svc, clock, messenger):
    comment = inbound(clock, "Jalan ke Desa Kuala Satong rusak parah, kapan diperbaiki?", kind="comment",
                      channel=Channel.FACEBOOK, sender="2539381862829497", phone="",
                      reply_to="comment:1164870100259578_1", message_id="feed:1164870100259578_1")
    out = handle(svc, messenger, comment)
    assert out.action == "created"
    assert svc.contacts.get(out.ticket).contact.channel_user_id == "comment:1164870100259578_1"
    assert messenger.sent[-1].to == "comment:1164870100259578_1"
    praise = inbound(clock, "Mantap pak, terima kasih", kind="comment", channel=Channel.FACEBOOK,
                     sender="2539381862829498", phone="", reply_to="comment:2", message_id="feed:2")
    assert handle(svc, messenger, praise).action == "ignored"


def test_store_failure_propagates_and_nothing_is_acknowledged(svc, clock, messenger, tmp_path):
    from functions.model import StorageUnavailable

    class BrokenWorkbook(LocalWorkbook):
        def append(self, cases):
            raise StorageUnavailable("sheets down")

    svc.workbook = BrokenWorkbook(tmp_path / "broken.sqlite", svc.schema)
    svc.workbook.bootstrap()
    with pytest.raises(StorageUnavailable):
        handle(svc, messenger, inbound(clock, "Jalan rusak di Desa Sungai Awan"))
    assert messenger.sent == []


def _staff(ticket, **values):
    from functions.stores.port import CellUpdate

    return CellUpdate(ticket, {k: str(v) for k, v in values.items()})


def test_vague_first_message_in_triage_is_re_routed_when_the_details_arrive(svc, clock, messenger):
    first = handle(svc, messenger, inbound(clock, "Min tolong dibantu, sudah lama begini"))
    assert svc.workbook.find(first.ticket).tab == "TRIASE"
    handle(svc, messenger, inbound(clock, "jalan di Desa Sungai Awan Kiri rusak parah banyak lubang", minutes=2))
    moved = svc.workbook.find(first.ticket)
    assert moved.tab == "PUTR" and "banyak lubang" in moved.row["text"]
