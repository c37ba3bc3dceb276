"""What the services hand to a mailer, and how it becomes a MIME message (text + HTML)."""
from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol


@dataclass(frozen=True)
class InlineImage:
    cid: str  # referenced from the HTML as src="cid:<cid>"
    data: bytes
    subtype: str = "png"


@dataclass(frozen=True)
class Attachment:
    filename: str
    data: bytes
    maintype: str = "application"
    subtype: str = "octet-stream"


@dataclass(frozen=True)
class OutgoingMail:
    to: tuple[str, ...]
    subject: str
    text: str
    html: str
    images: tuple[InlineImage, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    tag: str = "mail"  # for file names and logs: "digest", "overdue-PUTR" ...


class Mailer(Protocol):
    def send(self, mail: OutgoingMail) -> str:
        """Deliver; returns where it went (message id or file path). Raises on failure."""


class MailError(RuntimeError):
    pass


def compose(mail: OutgoingMail, mail_from: str) -> EmailMessage:
    """multipart/mixed( multipart/alternative(text, related(html, images)), attachments )."""
    msg = EmailMessage()
    msg["Subject"] = mail.subject
    msg["From"] = mail_from
    msg["To"] = ", ".join(mail.to)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=mail_from.rsplit("@", 1)[-1].strip("> ") or "localhost")
    msg.set_content(mail.text, charset="utf-8")
    msg.add_alternative(mail.html, subtype="html", charset="utf-8")
    if mail.images:
        html_part = msg.get_payload()[1]
        for image in mail.images:
            html_part.add_related(image.data, "image", image.subtype, cid=f"<{image.cid}>",
                                  filename=f"{image.cid}.{image.subtype}", disposition="inline")
    for att in mail.attachments:
        msg.add_attachment(att.data, maintype=att.maintype, subtype=att.subtype, filename=att.filename)
    return msg
