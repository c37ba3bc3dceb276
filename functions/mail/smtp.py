"""Mail through an SMTP server: STARTTLS (port 587) or implicit TLS (port 465), login, timeouts
and bounded retries.

Works with the Google Workspace SMTP relay (`smtp-relay.gmail.com`), Gmail with an app password
(`smtp.gmail.com`), or any provider. Transient failures (connection refused or dropped, timeouts,
4xx replies) are retried a few times with a growing pause; permanent ones (5xx, bad login, every
recipient refused) raise `MailError` at once. Logs carry counts and codes, never addresses.
"""
from __future__ import annotations

import smtplib
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Callable

from ..logs import log
from .port import MailError, OutgoingMail, compose

TRANSIENT = (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, socket.timeout, TimeoutError,
             ConnectionError, socket.gaierror)


@dataclass
class SmtpMailer:
    host: str
    port: int = 587
    mail_from: str = "KMC Aduan <kmc@localhost>"
    user: str = ""
    password: str = ""
    starttls: bool = True  # upgrade a plain connection (587, 25); ignored with implicit TLS
    implicit_tls: bool = False  # SMTPS (465)
    timeout: float = 30.0  # seconds, per socket operation
    attempts: int = 3
    backoff: float = 2.0  # seconds before the 2nd attempt; doubled after each failure
    ssl_context: ssl.SSLContext | None = None  # default: the system's trusted CAs, hostname checked
    local_hostname: str | None = None
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    @classmethod
    def from_settings(cls, settings) -> "SmtpMailer":
        implicit = settings.smtp_port == 465
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            mail_from=settings.mail_from,
            user=settings.smtp_user,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls and not implicit,
            implicit_tls=implicit,
        )

    def _context(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        if self.implicit_tls:
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self._context(),
                                    local_hostname=self.local_hostname)
        client = smtplib.SMTP(self.host, self.port, timeout=self.timeout, local_hostname=self.local_hostname)
        try:
            client.ehlo()
            if self.starttls:
                client.starttls(context=self._context())
                client.ehlo()
        except BaseException:
            client.close()
            raise
        return client

    def _send_once(self, message) -> dict:
        client = self._connect()
        try:
            if self.user:
                client.login(self.user, self.password)
            refused = client.send_message(message)
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()
        return refused

    def send(self, mail: OutgoingMail) -> str:
        """Deliver `mail`; returns its Message-ID. Raises MailError when it cannot be delivered."""
        if not mail.to:
            raise MailError("no recipients")
        message = compose(mail, self.mail_from)
        pause = self.backoff
        for attempt in range(1, max(1, self.attempts) + 1):
            try:
                refused = self._send_once(message)
            except smtplib.SMTPAuthenticationError as e:
                raise MailError(f"SMTP login refused ({e.smtp_code}); check SMTP_USER / SMTP_PASSWORD") from e
            except smtplib.SMTPRecipientsRefused as e:
                raise MailError(f"every recipient refused ({len(e.recipients)})") from e
            except smtplib.SMTPNotSupportedError as e:
                raise MailError(f"SMTP server lacks a required feature: {e}") from e
            except smtplib.SMTPResponseException as e:
                if not 400 <= e.smtp_code < 500 or attempt == self.attempts:
                    raise MailError(f"SMTP error {e.smtp_code}") from e
                reason = f"{e.smtp_code}"
            except ssl.SSLError as e:
                raise MailError(f"TLS failed with {self.host}:{self.port}: {e.reason or e}") from e
            except TRANSIENT + (OSError,) as e:
                if attempt == self.attempts:
                    raise MailError(f"SMTP {self.host}:{self.port} unreachable: {type(e).__name__}") from e
                reason = type(e).__name__
            else:
                if refused:
                    log("WARNING", "mail partly refused", tag=mail.tag, refused=len(refused), to=len(mail.to))
                log("INFO", "mail sent", tag=mail.tag, to=len(mail.to), attempt=attempt,
                    bytes=len(message.as_bytes()))
                return str(message["Message-ID"])
            log("WARNING", "mail attempt failed; retrying", tag=mail.tag, attempt=attempt, reason=reason)
            self.sleep(pause)
            pause *= 2
        raise MailError("unreachable")  # pragma: no cover - the loop returns or raises
