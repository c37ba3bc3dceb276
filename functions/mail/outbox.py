"""Mail without an SMTP server: each message becomes `.eml` + `.html` in KMC_DATA_DIR/outbox/."""
from __future__ import annotations

import base64
import re
from datetime import datetime, timezone
from pathlib import Path

from .port import OutgoingMail, compose


class OutboxMailer:
    def __init__(self, outbox: Path, mail_from: str):
        self.outbox = outbox
        self.mail_from = mail_from

    def send(self, mail: OutgoingMail) -> str:
        self.outbox.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        slug = re.sub(r"[^A-Za-z0-9_-]+", "-", mail.tag).strip("-") or "mail"
        base = self.outbox / f"{stamp}-{slug}"
        tmp = base.with_suffix(".eml.tmp")
        tmp.write_bytes(bytes(compose(mail, self.mail_from)))
        tmp.replace(base.with_suffix(".eml"))
        base.with_suffix(".html").write_text(preview_html(mail), encoding="utf-8")
        return str(base.with_suffix(".eml"))


def preview_html(mail: OutgoingMail) -> str:
    """The HTML as a browser opening the file shows it: `cid:` images (which only a mail
    program resolves) become `data:` URIs, so the preview shows the chart."""
    html = mail.html
    for image in mail.images:
        uri = f"data:image/{image.subtype};base64,{base64.b64encode(image.data).decode('ascii')}"
        html = html.replace(f'"cid:{image.cid}"', f'"{uri}"').replace(f"'cid:{image.cid}'", f"'{uri}'")
    return html
