"""SmtpMailer against a real SMTP server (aiosmtpd) on 127.0.0.1: STARTTLS with a certificate made
in the test, implicit TLS, login, retries, and the digest as leadership receives it."""
from __future__ import annotations

import datetime as dt
import email
import io
import ipaddress
import socket
import ssl
from dataclasses import replace
from email import policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from functions.bootstrap import build
from functions.config import Settings
from functions.mail.port import Attachment, InlineImage, MailError, OutgoingMail
from functions.mail.smtp import SmtpMailer
from functions.services.jobs import daily_job
from functions.services.intake import intake
from tests.conftest import complaint
from tests.fakes.clock import WIB, FakeClock

USER, PASSWORD = "kmc@ketapangkab.go.id", "rahasia-aplikasi"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d4944415478da63f8cfc0f01f0005000201a5f2b5d10000000049454e44ae426082")
INDONESIAN = "Rekap harian: 3 aduan belum ditanggapi lewat 2×24 jam — kepatuhan 75 %. Mohon segera ditindaklanjuti."


class Inbox:
    """aiosmtpd handler that keeps what it received (and can refuse the first tries)."""

    def __init__(self, busy_replies: int = 0):
        self.envelopes = []
        self.sessions = []
        self.busy_replies = busy_replies
        self.attempts = 0

    async def handle_DATA(self, server, session, envelope):
        self.attempts += 1
        if self.busy_replies:
            self.busy_replies -= 1
            return "451 4.3.0 Coba lagi nanti"
        self.envelopes.append(envelope)
        encrypted = server.transport.get_extra_info("ssl_object") is not None
        self.sessions.append((encrypted, session.authenticated))
        return "250 2.0.0 OK"

    def message(self, i: int = -1):
        return email.message_from_bytes(self.envelopes[i].original_content, policy=policy.default)


class Authenticator:
    def __init__(self):
        self.calls = 0
        self.connections = set()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        self.calls += 1
        self.connections.add(id(session))
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode() \
            and auth_data.password == PASSWORD.encode()
        return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535 itself


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for localhost / 127.0.0.1, made here with `cryptography`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture
def server_tls(certificate):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*certificate)
    return ctx


@pytest.fixture
def client_tls(certificate):
    return ssl.create_default_context(cafile=str(certificate[0]))  # trusts only the test certificate


def serve(handler, **kw):
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **kw)
    controller.start()
    return controller


@pytest.fixture
def starttls_server(server_tls):
    inbox, auth = Inbox(), Authenticator()
    controller = serve(inbox, tls_context=server_tls, require_starttls=True, authenticator=auth,
                       auth_required=True, auth_require_tls=True)
    yield controller, inbox, auth
    controller.stop()


def digest_mail() -> OutgoingMail:
    html = f'<html><body><h1>Rekap Harian KMC Aduan</h1><p>{INDONESIAN}</p><img src="cid:grafik-30-hari"></body></html>'
    return OutgoingMail(
        to=("bupati@ketapangkab.go.id", "sekda@ketapangkab.go.id"),
        subject="[KMC Aduan] Rekap Jumat, 27 November 2026: 3 aduan terlambat, kepatuhan 75%",
        text=INDONESIAN,
        html=html,
        images=(InlineImage("grafik-30-hari", PNG),),
        attachments=(Attachment("evaluasi-kmc-aduan-2026-10.xlsx", b"PK\x03\x04 xlsx bytes", "application",
                                "vnd.openxmlformats-officedocument.spreadsheetml.sheet"),),
        tag="digest-2026-11-27",
    )


def test_starttls_login_delivers_both_parts_inline_chart_and_attachment(starttls_server, client_tls):
    controller, inbox, auth = starttls_server
    mailer = SmtpMailer("127.0.0.1", controller.port, mail_from="KMC Aduan <kmc@ketapangkab.go.id>",
                        user=USER, password=PASSWORD, starttls=True, ssl_context=client_tls, timeout=10)
    message_id = mailer.send(digest_mail())

    assert inbox.sessions == [(True, True)]  # over TLS, after login
    envelope = inbox.envelopes[0]
    assert envelope.mail_from == "kmc@ketapangkab.go.id"
    assert envelope.rcpt_tos == ["bupati@ketapangkab.go.id", "sekda@ketapangkab.go.id"]
    msg = inbox.message()
    assert msg["Message-ID"] == message_id
    assert msg["From"] == "KMC Aduan <kmc@ketapangkab.go.id>"
    assert msg["To"] == "bupati@ketapangkab.go.id, sekda@ketapangkab.go.id"
    # (a subject starting with "[" is folded onto its own line by the email package; clients trim it)
    assert msg["Subject"].strip() == "[KMC Aduan] Rekap Jumat, 27 November 2026: 3 aduan terlambat, kepatuhan 75%"
    assert msg["Date"]
    assert msg.get_body(("plain",)).get_content().strip() == INDONESIAN
    html = msg.get_body(("html",)).get_content()
    assert INDONESIAN in html and 'src="cid:grafik-30-hari"' in html
    images = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 1 and images[0]["Content-ID"] == "<grafik-30-hari>"
    assert images[0].get_content_disposition() == "inline" and images[0].get_content() == PNG
    attachments = list(msg.iter_attachments())
    assert [a.get_filename() for a in attachments] == ["evaluasi-kmc-aduan-2026-10.xlsx"]
    assert attachments[0].get_content() == b"PK\x03\x04 xlsx bytes"


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_implicit_tls_on_port_465_style(server_tls, client_tls):
    inbox, auth = Inbox(), Authenticator()
    # aiosmtpd only counts STARTTLS as TLS for AUTH; on an implicit-TLS socket it must be told
    controller = serve(inbox, ssl_context=server_tls, authenticator=auth, auth_required=True, auth_require_tls=False)
    try:
        mailer = SmtpMailer("127.0.0.1", controller.port, user=USER, password=PASSWORD, implicit_tls=True,
                            ssl_context=client_tls, timeout=10)
        mailer.send(digest_mail())
    finally:
        controller.stop()
    assert inbox.sessions == [(True, True)] and auth.calls == 1
    assert "kepatuhan 75 %" in inbox.message().get_body(("plain",)).get_content()


def test_wrong_password_fails_at_once_without_retrying(starttls_server, client_tls):
    controller, inbox, auth = starttls_server
    pauses = []
    mailer = SmtpMailer("127.0.0.1", controller.port, user=USER, password="salah", ssl_context=client_tls,
                        timeout=10, sleep=pauses.append)
    with pytest.raises(MailError, match="login"):
        mailer.send(digest_mail())
    # smtplib tries each mechanism the server offers (PLAIN, LOGIN) on one connection, then stops
    assert len(auth.connections) == 1 and pauses == [] and inbox.envelopes == []


def test_a_server_certificate_nobody_vouches_for_is_refused(starttls_server):
    controller, inbox, _ = starttls_server
    mailer = SmtpMailer("127.0.0.1", controller.port, user=USER, password=PASSWORD, timeout=10)  # system CAs
    with pytest.raises(MailError, match="TLS"):
        mailer.send(digest_mail())
    assert inbox.envelopes == []


def test_busy_server_is_retried_with_growing_pauses_then_delivers():
    inbox = Inbox(busy_replies=2)
    controller = serve(inbox)
    pauses = []
    try:
        mailer = SmtpMailer("127.0.0.1", controller.port, starttls=False, attempts=3, backoff=0.5,
                            timeout=10, sleep=pauses.append)
        mailer.send(digest_mail())
    finally:
        controller.stop()
    assert inbox.attempts == 3 and len(inbox.envelopes) == 1 and pauses == [0.5, 1.0]


def test_unreachable_server_gives_up_after_bounded_attempts():
    pauses = []
    mailer = SmtpMailer("127.0.0.1", free_port(), starttls=False, attempts=3, backoff=0.1, timeout=2,
                        sleep=pauses.append)
    with pytest.raises(MailError, match="unreachable"):
        mailer.send(digest_mail())
    assert pauses == [0.1, 0.2]


def test_settings_choose_implicit_tls_for_465_and_starttls_otherwise():
    ssl_465 = SmtpMailer.from_settings(Settings.from_env({"SMTP_HOST": "smtp.gmail.com", "SMTP_PORT": "465"}))
    relay = SmtpMailer.from_settings(Settings.from_env({"SMTP_HOST": "smtp-relay.gmail.com",
                                                        "MAIL_FROM": "KMC <kmc@ketapangkab.go.id>"}))
    assert ssl_465.implicit_tls and not ssl_465.starttls
    assert relay.port == 587 and relay.starttls and not relay.implicit_tls
    assert relay.mail_from == "KMC <kmc@ketapangkab.go.id>"


def test_daily_digest_arrives_over_smtp_with_chart_table_and_monthly_evaluation(tmp_path):
    """The real daily job, configured from the environment as in production, on the 1st of a month."""
    inbox = Inbox()
    controller = serve(inbox)
    try:
        settings = Settings.from_env({
            "KMC_DATA_DIR": str(tmp_path / "data"), "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(controller.port),
            "SMTP_STARTTLS": "false", "MAIL_FROM": "KMC Aduan <kmc@ketapangkab.go.id>",
            "DIGEST_TO": "bupati@ketapangkab.go.id,sekda@ketapangkab.go.id,kominfo@ketapangkab.go.id",
        })
        clock = FakeClock(dt.datetime(2026, 11, 27, 9, 0, tzinfo=WIB))
        svc = build(settings, clock=clock)
        svc.workbook.bootstrap()
        late = intake(svc, complaint("jalan berlubang parah di Sandai", clock))
        clock.set(dt.datetime(2026, 12, 1, 7, 0, tzinfo=WIB))
        report = daily_job(svc)
    finally:
        controller.stop()
    assert isinstance(svc.mailer, SmtpMailer) and report.monthly == "evaluasi-kmc-aduan-2026-11.xlsx"
    assert len(inbox.envelopes) == 1 and report.delivered == inbox.message()["Message-ID"]
    msg = inbox.message()
    assert inbox.envelopes[0].rcpt_tos == ["bupati@ketapangkab.go.id", "sekda@ketapangkab.go.id",
                                           "kominfo@ketapangkab.go.id"]
    assert msg["Subject"].strip().startswith("[KMC Aduan] Rekap Selasa, 1 Desember 2026: 1 aduan terlambat")
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for part in (text, html):
        assert late.ticket_id in part and "PUTR" in part and "3 hari 22 jam" in part  # age since it arrived
        assert "Evaluasi bulanan" in part or "EVALUASI BULANAN" in part
    assert "BELUM DITANGGAPI" in text and "Sen 30/11" in text  # the chart's numbers as a table
    assert 'src="cid:grafik-30-hari"' in html
    chart = next(p for p in msg.walk() if p.get_content_type() == "image/png")
    assert chart["Content-ID"] == "<grafik-30-hari>" and chart.get_content()[:8] == PNG[:8]
    (attachment,) = msg.iter_attachments()
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(attachment.get_content())).active
    rows = [[c.value for c in r] for r in sheet.iter_rows()]
    header = next(r for r in rows if r[0] == "Peringkat")
    putr = next(r for r in rows if r[1] == "PUTR")
    assert putr[header.index("Aduan")] == 1 and putr[header.index("Belum Ditanggapi")] == 1
    assert len(inbox.envelopes[0].original_content) < 1_000_000
