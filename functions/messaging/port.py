"""The messenger port: what the services need to answer a citizen on the channel they used.

`to` is the channel user id kept in the private contact store: a WhatsApp number (`wa_id`) or
business-scoped user id (`ID.1234…`), a Messenger PSID, an Instagram IGSID, or for a case that
came from a public comment or visitor post, `comment:<id>` / `post:<id>` (answered by a private
reply, or publicly on that comment with `public=True`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# Graph API error codes (WhatsApp Cloud API and Messenger) the reply logic acts on.
WINDOW_CLOSED_CODES = frozenset({131047, 2018278})  # WhatsApp re-engagement / Messenger subcode: outside window
RETRY_LATER_CODES = frozenset({1, 2, 4, 17, 32, 613, 80007, 130429, 131000, 131016, 131056, 133004})
PAIR_RATE_LIMIT = 131056  # too many messages to one recipient: pace and retry


@dataclass(frozen=True)
class Template:
    """An approved WhatsApp message template (used outside the 24-hour customer-service window)."""

    name: str
    language: str
    params: tuple[str, ...] = ()


@dataclass(frozen=True)
class SendResult:
    ok: bool
    message_id: str = ""  # the outgoing id (wamid… / m_…); status callbacks refer to it
    error_code: int | None = None
    error: str = ""  # short, no personal data
    retry_later: bool = False  # rate limit or outage: the same message may succeed later
    window_closed: bool = False  # free-form refused outside the 24-hour window: use the template

    @classmethod
    def failed(cls, code: int | None, error: str) -> "SendResult":
        return cls(False, "", code, error, retry_later=code in RETRY_LATER_CODES,
                   window_closed=code in WINDOW_CLOSED_CODES)


NOT_CONFIGURED = "channel not configured"  # no access token where nobody reads a local outbox


class Messenger(Protocol):
    def send_text(self, to: str, text: str, channel: str, *, tag: str = "", public: bool = False) -> SendResult:
        """Send a free-form text. `tag` (Messenger/Instagram: HUMAN_AGENT) sends outside 24 h;
        `public=True` answers a `comment:<id>` recipient in public instead of privately."""

    def send_template(self, to: str, template: Template, channel: str) -> SendResult:
        """Send an approved WhatsApp template (other channels fall back to text)."""
