"""Mailers for service tests: one that keeps what it was given, one that fails for chosen addresses."""
from __future__ import annotations

from dataclasses import dataclass, field

from functions.mail.port import MailError, OutgoingMail


@dataclass
class RecordingMailer:
    sent: list[OutgoingMail] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)  # recipients whose mail raises MailError

    def send(self, mail: OutgoingMail) -> str:
        if self.failing & set(mail.to):
            raise MailError("550 mailbox unavailable")
        self.sent.append(mail)
        return f"<{len(self.sent)}@test>"

    def to(self, address: str) -> list[OutgoingMail]:
        return [m for m in self.sent if address in m.to]

    def tagged(self, prefix: str) -> list[OutgoingMail]:
        return [m for m in self.sent if m.tag.startswith(prefix)]
