"""Fuzzing every public input with hypothesis, on the production adapters (the gspread store over
the fake Sheets API, the Graph API messenger over the fake Graph API).

Properties, for whatever arrives: no 5xx for bad input and no crash; no formula ever reaches
the sheet; no row without a well-formed ticket; nothing accepted (nothing written, nothing sent)
without a valid signature, CSRF token, api_key or admin token; pages never echo markup.
"""
from __future__ import annotations

import copy
import re
from dataclasses import replace
from datetime import datetime

import pytest
from hypothesis import event, given, settings as hsettings, strategies as st

from functions.channels import csrf
from functions.server import make_app
from functions.text import clean_text
from tests.fakes import meta_payloads as mp
from tests.fakes.clock import WIB
from tests.reliability.harness import ADMIN, examples, OPEN311_KEY, assert_sheet_invariants, google_stack, reset

AT = datetime(2026, 11, 2, 8, 0, tzinfo=WIB)
KECAMATAN = ["Delta Pawan", "Sandai", "Muara Pawan", "Kendawangan"]
INJECTIONS = ['=HYPERLINK("http://evil.example","klik")', "=IMPORTXML(A1,\"//a\")", "+cmd|' /C calc'!A0",
              "-2+3", "@SUM(A1:A9)", "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>',
              "{{ 7*7 }}", "\x00\u202e\u200b", "'; DROP TABLE contacts; --", "0812-3456-7890",
              "Jalan rusak parah di Desa Sandai Kiri, mohon segera diperbaiki"]
# Citizen-ish text: injections, words that route, and anything at all.
texts = st.one_of(st.sampled_from(INJECTIONS), st.text(max_size=200),
                  st.lists(st.sampled_from(INJECTIONS + ["jalan", "rusak", "sampah", " ", "\n"]), max_size=8).map(" ".join))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12)


@pytest.fixture
def stack(tmp_path, clock):
    with google_stack(tmp_path, clock) as s:
        yield s


def fresh_client(stack):
    reset(stack)
    svc = stack.instance()
    return svc, stack.client(svc)  # each POST is followed by one drain (the writer)


def nothing_written(stack) -> None:
    assert stack.fake.write_requests == 0, dict(stack.fake.counts)
    assert stack.tickets() == [] and stack.contact_tickets() == []
    assert stack.graph.sent == []


def no_markup_echoed(body: str) -> None:
    low = body.lower()
    assert "<script" not in low and "<img" not in low, "markup from the input reached the page"


# -- Meta webhooks ------------------------------------------------------------------------------

def _base_payloads(text: str):
    return [
        mp.whatsapp([mp.wa_text(text, at=AT)]),
        mp.whatsapp([mp.wa_image(caption=text, at=AT), mp.wa_location(name=text, at=AT)]),
        mp.whatsapp([mp.wa_contacts((text.strip() or "x"), at=AT), mp.wa_button_reply(text or "x", at=AT)],
                    statuses=[mp.wa_status("wamid.x", "failed", at=AT, error_code=131047)]),
        mp.messenger([mp.dm_event("6254021434668112", text=text, at=AT)], at=AT),
        mp.instagram([mp.dm_event("1104823976340542", text=text, at=AT, own_id=mp.IG_ACCOUNT_ID)], at=AT),
        mp.page_comment(text, at=AT),
        mp.instagram_comment(text, at=AT),
    ]


def _slots(node, out):
    """Every (container, key) in a JSON tree, in a stable order."""
    if isinstance(node, dict):
        for k in list(node):
            out.append((node, k))
            _slots(node[k], out)
    elif isinstance(node, list):
        for i in range(len(node)):
            out.append((node, i))
            _slots(node[i], out)
    return out


@st.composite
def garbled_meta(draw):
    """A realistic delivery of any type with a few values replaced by anything or removed."""
    text = draw(texts)
    payload = copy.deepcopy(draw(st.sampled_from(range(7)).map(lambda i: _base_payloads(text)[i])))
    for _ in range(draw(st.integers(0, 4))):
        slots = _slots(payload, [])
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        if draw(st.booleans()) and isinstance(container, dict):
            del container[key]
        else:
            container[key] = draw(json_values)
    return payload


@given(body=st.one_of(st.binary(max_size=2000), garbled_meta().map(mp.encode)),
       signature=st.one_of(st.none(), st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF), max_size=80),
                           st.binary(min_size=32, max_size=32).map(
           lambda b: "sha256=" + b.hex()), st.just("sha256="), st.just("sha1=abc")),
       secret=st.sampled_from(["", "salah", mp.APP_SECRET + " "]))
def test_an_unsigned_or_forged_webhook_is_refused_and_writes_nothing(stack, body, signature, secret):
    svc, client = fresh_client(stack)
    stack.fake.reset_counts()
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    elif secret:
        headers["X-Hub-Signature-256"] = mp.sign(body, secret)  # signed with the wrong secret
    reply = client.post("/meta", data=body, headers=headers)
    assert reply.status_code in (401, 403)
    nothing_written(stack)


@given(body=st.one_of(st.binary(max_size=2000), json_values.map(mp.encode), garbled_meta().map(mp.encode)))
def test_a_signed_body_of_any_shape_never_5xx_and_never_writes_a_formula(stack, body):
    svc, client = fresh_client(stack)
    reply = client.post("/meta", data=body, headers={"Content-Type": "application/json",
                                                     "X-Hub-Signature-256": mp.sign(body)})
    assert reply.status_code in (200, 400), reply.get_data(as_text=True)[:300]
    event(f"HTTP {reply.status_code}, {len(stack.tickets())} row(s) stored")
    assert_sheet_invariants(stack)
    # What was stored is the citizen's text as data, and every row came with its contact record.
    assert sorted(stack.contact_tickets()) == sorted(stack.tickets())


@given(params=st.dictionaries(st.sampled_from(["hub.mode", "hub.verify_token", "hub.challenge", "x"]),
                              st.text(max_size=300), max_size=4))
def test_the_handshake_answers_only_the_right_token(stack, params):
    svc, client = fresh_client(stack)
    reply = client.get("/meta", query_string=params)
    right = (params.get("hub.mode") == "subscribe" and params.get("hub.verify_token") == mp.VERIFY_TOKEN
             and 0 < len(params.get("hub.challenge", "")) <= 256)
    assert reply.status_code == (200 if right else 403)
    if right:
        assert reply.get_data(as_text=True) == params["hub.challenge"]
        assert reply.headers["Content-Type"].startswith("text/plain")  # an echo, never HTML


# -- the web form -------------------------------------------------------------------------------

form_fields = st.fixed_dictionaries({}, optional={
    "isi": texts, "kecamatan": st.one_of(st.sampled_from(KECAMATAN), st.text(max_size=30)),
    "desa": st.one_of(texts, st.text(min_size=190, max_size=260)), "nama": st.one_of(texts, st.text(max_size=120)),
    "telepon": st.one_of(st.from_regex(r"(\+62|0)8[0-9]{2}[ -]?[0-9]{4}[ -]?[0-9]{3,5}", fullmatch=True),
                         st.text(max_size=20)),
    "anonim": st.sampled_from(["", "ya", "x"]), "setuju": st.sampled_from(["", "ya", "ya", "ya"]),
    "kunci": st.text(max_size=70), "lain": json_values.map(str),
})


@given(fields=form_fields, token=st.sampled_from(["valid", "missing", "garbled", "other-key"]),
       remote=st.integers(1, 2**24 - 2))
def test_any_form_post_is_answered_without_5xx_and_stored_only_with_a_valid_token(stack, fields, token, remote):
    from tests.entrypoints.test_web_form import Browser, filled

    svc, _ = fresh_client(stack)
    browser = Browser(make_app(svc), remote=f"10.{remote >> 16}.{(remote >> 8) & 255}.{remote & 255}")
    hidden = browser.open_form()
    # A valid submission with some fields replaced by anything, so both sides of every check run.
    data = {**hidden, **filled(), **fields}
    if token == "missing":
        data.pop("csrf", None)
    elif token == "garbled":
        data["csrf"] = hidden["csrf"][:-3] + "AAA"
    elif token == "other-key":
        data["csrf"] = csrf.issue(b"another deployment's key".ljust(32, b"!"), svc.now()).token
    reply = browser.post("/form", data)
    body = reply.get_data(as_text=True)
    assert reply.status_code < 500, body[:500]
    event(f"{token} token: HTTP {reply.status_code}")
    no_markup_echoed(body)
    if token != "valid":
        assert reply.status_code == 403
        nothing_written(stack)
        return
    assert reply.status_code in (200, 422)
    if reply.status_code == 200:
        ticket = re.search(r'data-ticket="([^"]+)"', body).group(1)
        assert stack.tickets() == [ticket]
        text_col = stack.env.schema.column_keys.index("text")
        assert [cells[text_col] for _, cells in stack.rows()] == [clean_text(data["isi"], field="isi")]
    else:
        assert stack.tickets() == []
    assert_sheet_invariants(stack)


@given(ticket=st.one_of(st.text(max_size=60), st.from_regex(r"kmc[ -]?\d{6}[ -]?[0-9a-z]{3,7}", fullmatch=True)))
def test_the_status_page_answers_anything_typed_without_5xx(stack, ticket):
    svc, client = fresh_client(stack)
    reply = client.get("/form/status", query_string={"tiket": ticket})
    assert reply.status_code in (200, 404, 429)
    no_markup_echoed(reply.get_data(as_text=True))


# -- Open311 ------------------------------------------------------------------------------------

open311_fields = st.fixed_dictionaries({}, optional={
    "service_code": st.one_of(st.sampled_from(["jalan-rusak", "lainnya", "sampah"]), st.text(max_size=20)),
    "description": texts, "address_string": texts, "address_id": st.text(max_size=30),
    "lat": st.one_of(st.floats(-200, 200).map(str), st.text(max_size=10)),
    "long": st.one_of(st.floats(-200, 200).map(str), st.text(max_size=10)),
    "attribute[kecamatan]": st.one_of(st.sampled_from(KECAMATAN), st.text(max_size=20)),
    "phone": st.one_of(st.just("081234567890"), st.text(max_size=20)), "first_name": texts, "last_name": texts,
    "email": st.text(max_size=40),
    "media_url": st.one_of(st.sampled_from(["https://foto.example/a.jpg", "javascript:alert(1)", "file:///etc/passwd",
                                            "http://169.254.169.254/latest/meta-data/"]), st.text(max_size=30)),
})


@given(fields=open311_fields, key=st.sampled_from(["valid", "missing", "wrong"]), fmt=st.sampled_from(["json", "xml"]),
       idempotency=st.one_of(st.none(), st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)))
def test_any_open311_post_is_answered_without_5xx_and_stored_only_with_a_valid_key(stack, fields, key, fmt,
                                                                                   idempotency):
    svc, client = fresh_client(stack)
    stack.fake.reset_counts()
    data = {"service_code": "jalan-rusak", "address_string": "Jl. Poros Sukabangun",
            "description": "Jalan berlubang besar di depan SD 5, sudah ada motor jatuh", **fields}
    if key == "valid":
        data["api_key"] = OPEN311_KEY
    elif key == "wrong":
        data["api_key"] = OPEN311_KEY + "x"
    headers = {"Idempotency-Key": idempotency} if idempotency is not None else {}
    reply = client.post(f"/open311/v2/requests.{fmt}", data=data, headers=headers)
    assert reply.status_code < 500
    event(f"{key} key: HTTP {reply.status_code}")
    if key != "valid":
        assert reply.status_code == 403
        nothing_written(stack)
        return
    if reply.status_code == 200 and fmt == "json":
        (created,) = reply.get_json()
        assert stack.tickets() == [created["service_request_id"]]
    assert reply.status_code in (200, 400, 404) and len(stack.tickets()) <= 1
    assert_sheet_invariants(stack)


@given(path=st.one_of(st.sampled_from(["v2/requests", "v2/services", "discovery", "v2/requests/KMC-261102-AAAAA",
                                       "v2/services/jalan-rusak"]), st.text(max_size=30).map(lambda t: "v2/" + t.replace("?", "%3F").replace("#", "%23"))),
       fmt=st.sampled_from([".json", ".xml", "", ".html"]),
       query=st.dictionaries(st.sampled_from(["start_date", "end_date", "status", "service_code",
                                              "service_request_id", "api_key", "jurisdiction_id"]),
                             st.one_of(st.text(max_size=40), st.sampled_from(["2026-11-01T00:00:00+07:00", "open,closed",
                                                                               "2026-13-40", "1999-01-01"])),
                             max_size=4))
def test_any_open311_read_is_answered_without_5xx(stack, path, fmt, query):
    svc, client = fresh_client(stack)
    reply = client.get(f"/open311/{path}{fmt}", query_string=query)
    assert reply.status_code in (200, 400, 404, 405)
    if reply.status_code != 200 and fmt != ".xml" and reply.is_json:
        [error] = reply.get_json()
        assert set(error) == {"code", "description"}


# -- monitoring ---------------------------------------------------------------------------------

monitoring_fields = st.fixed_dictionaries({}, optional={
    "platform": st.one_of(st.sampled_from(["Facebook", "ig", "TikTok", "x"]), st.text(max_size=15)),
    "url": st.one_of(st.sampled_from(["https://www.facebook.com/groups/infoketapang/posts/1/",
                                      "javascript:alert(1)", "http://127.0.0.1/admin", "ftp://x"]), st.text(max_size=40)),
    "handle": texts, "text": texts,
    "observed_at": st.one_of(st.sampled_from(["2026-11-02T07:30", "2026-11-02 07:30", "2030-01-01T00:00",
                                              "1990-01-01", "kemarin"]), st.text(max_size=20)),
    "sentiment": st.one_of(st.sampled_from(["Negatif", "netral", "Positif", ""]), st.text(max_size=10)),
})


@given(fields=monitoring_fields, auth=st.sampled_from(["bearer", "field", "missing", "wrong", "wrong-field"]),
       as_json=st.booleans())
def test_any_monitoring_post_is_answered_without_5xx_and_stored_only_with_the_admin_token(stack, fields, auth,
                                                                                         as_json):
    svc, client = fresh_client(stack)
    stack.fake.reset_counts()
    data = {"platform": "Facebook", "url": "https://www.facebook.com/groups/infoketapang/posts/123456789/",
            "text": "Jalan di Desa Sandai Kiri rusak parah dan berlubang, warga kecewa", **fields}
    headers = {}
    if auth == "bearer":
        headers["Authorization"] = f"Bearer {ADMIN}"
    elif auth == "wrong":
        headers["Authorization"] = f"Bearer {ADMIN}-"
    elif auth == "field":
        data["token"] = ADMIN
    elif auth == "wrong-field":
        data["token"] = ADMIN[:-1]
    if not as_json:
        data["format"] = "html"
    reply = (client.post("/monitoring", json=data, headers=headers) if as_json
             else client.post("/monitoring", data=data, headers=headers))
    assert reply.status_code < 500, reply.get_data(as_text=True)[:300]
    event(f"{auth}: HTTP {reply.status_code}")
    no_markup_echoed(reply.get_data(as_text=True))
    if auth not in ("bearer", "field"):
        assert reply.status_code == 401
        nothing_written(stack)
        return
    assert reply.status_code in (200, 202, 400)
    assert len(stack.tickets()) == (1 if reply.status_code == 202 else 0)
    assert_sheet_invariants(stack)


# -- jobs need the token too ----------------------------------------------------------------------

@given(job=st.sampled_from(["sweep", "daily", "media"]),
       header=st.one_of(st.none(), st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF), max_size=40), st.just(f"Bearer {ADMIN}x"), st.just(f"bearer {ADMIN[:-1]}")))
def test_jobs_refuse_without_the_admin_token_and_do_nothing(stack, job, header):
    svc, client = fresh_client(stack)
    stack.fake.reset_counts()
    reply = client.post(f"/jobs/{job}", headers={"Authorization": header} if header is not None else {})
    assert reply.status_code == 401
    assert sum(stack.fake.counts.values()) == 0 and not list(stack.settings.outbox_dir.glob("*.eml"))


# -- feeds (through the feed parser and the media job) ----------------------------------------------

def _rss(items) -> bytes:
    from xml.sax.saxutils import escape

    parts = []
    for title, link, date, lead in items:
        parts.append(f"<item><title>{escape(title)}</title><link>{escape(link)}</link>"
                     f"<pubDate>{escape(date)}</pubDate><description>{escape(lead)}</description></item>")
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Kabar</title>'
            + "".join(parts) + "</channel></rss>").encode()


feed_item = st.tuples(
    st.one_of(texts, st.sampled_from(["Jalan rusak di Sandai dikeluhkan warga", "Banjir rendam Delta Pawan, warga kecewa",
                                      "=HYPERLINK(\"http://x\") jalan rusak di Ketapang"])),
    st.one_of(st.sampled_from(["https://kabarketapang.example/a", "javascript:alert(1)", "file:///etc/passwd", ""]),
              st.text(max_size=30)),
    st.one_of(st.sampled_from(["Mon, 02 Nov 2026 07:00:00 +0700", "kemarin", "Tue, 31 Feb 2026 99:99:99 +9900", ""]),
              st.text(max_size=20)),
    texts)
feed_bodies = st.one_of(
    st.binary(max_size=3000),
    st.lists(feed_item, max_size=4).map(_rss),
    st.tuples(st.lists(feed_item, min_size=1, max_size=4).map(_rss), st.integers(1, 400)).map(lambda t: t[0][:-t[1]]),
    st.just(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><rss><channel>'
            b'<item><title>Jalan rusak di Sandai &e;</title></item></channel></rss>'),
    st.just(b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
            b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
            b'<rss><channel><item><title>Banjir di Sandai &d;</title></item></channel></rss>'),
)


@hsettings(max_examples=examples(15, 150))
@given(bodies=st.lists(feed_bodies, min_size=1, max_size=3))
def test_any_feed_body_is_read_or_reported_and_never_breaks_the_media_job(stack, clock, bodies):
    from functions.services.media import media_job
    from tests.services.test_media import StaticFeeds

    reset(stack)
    feeds = StaticFeeds({f"https://feed{i}.example/rss": (body, f'"{i}"') for i, body in enumerate(bodies)})
    svc = stack.instance(settings=replace(stack.settings, media_feeds=tuple(feeds.feeds)), feed_fetcher=feeds)
    report = media_job(svc, clock())
    assert report.feeds == len(bodies)
    event(f"{report.cases_created} case(s), {report.broken} broken, {sum(report.failed.values())} failed")
    assert report.cases_created == len(stack.tickets())
    assert_sheet_invariants(stack)
    for path in stack.settings.outbox_dir.glob("*.html"):
        no_markup_echoed(path.read_text())


# -- staff cell values on the real sheet path ----------------------------------------------------------

STAFF_COLUMNS = ["status", "response", "responder", "forward_to", "location"]
staff_value = st.one_of(st.text(max_size=60), st.sampled_from([
    "Selesai", "selesai ", "SELESAI", "Sudah", "-", "=1/0", "=HYPERLINK(\"http://x\")", "+62812", "0812345",
    "2026-11-03", "2026-11-03 10:00", "12,5", "TRUE", "PUTR", "putr", "Dinas PU", "DLH", "TRIASE", "LUAR_PEMDA", ""]))


@hsettings(max_examples=examples(15, 150))
@given(edits=st.lists(st.tuples(st.integers(0, 2), st.sampled_from(STAFF_COLUMNS), staff_value), min_size=1,
                      max_size=8),
       hours=st.floats(min_value=0, max_value=120))
def test_whatever_staff_type_in_the_google_sheet_the_jobs_keep_every_case_and_write_no_formula(
        stack, clock, edits, hours):
    from functions.services.jobs import daily_job, sweep_job

    reset(stack)
    start = clock()
    svc = stack.instance()
    app = stack.client(svc)
    for i, text in enumerate(["Jalan rusak parah di Desa Sandai Kiri", "Sampah menumpuk di Pasar Kota",
                              "Lampu PJU mati di Jalan Gajah Mada"]):
        body, headers = mp.signed(mp.whatsapp([mp.wa_text(text, sender=f"6281234{i:06d}", at=start)]))
        assert app.post("/meta", data=body, headers=headers).status_code == 200
    before = stack.tabs_of()
    tickets = sorted(before)
    for row_pick, key, value in edits:
        ticket = tickets[row_pick]
        (tab,) = stack.tabs_of()[ticket]
        title = stack.env.title(tab)
        row = stack.fake.find_row(stack.env.spreadsheet_id, title, ticket)
        col = "ABCDEFGHIJKLMNOPQRSTU"[stack.env.col(key)]
        stack.fake.staff_set(stack.env.spreadsheet_id, title, f"{col}{row}", value)
    staff_formulas = len(stack.fake.formulas_written)
    try:
        clock.advance(hours=hours)
        job = stack.instance()
        sweep_job(job)
        daily_job(job)
        sweep_job(stack.instance())
    finally:
        clock.set(start)
    after = stack.tabs_of()
    event("moved by a forward" if after != before else "stayed in place")
    assert sorted(after) == tickets, "a case was lost or duplicated"
    assert all(len(tabs) == 1 for tabs in after.values())
    assert_sheet_invariants(stack, staff_formulas=staff_formulas)


def test_a_feed_feedparser_itself_cannot_read_is_reported_as_not_a_feed():
    body = b'<?xml version="1.5" encoding="utf-\x01\x00\x00\x00\x00\x00\x00\x008"<??>'  # found by atheris
    from functions.feeds.model import NOT_A_FEED, FeedFailure
    from functions.feeds.parse import parse_feed

    with pytest.raises(FeedFailure) as failure:
        parse_feed(body, url="https://feed.example/rss", content_type="application/rss+xml")
    assert failure.value.reason == NOT_A_FEED
