"""Domain values: the sheet's vocabulary as str-Enums, and the frozen records services pass around."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Channel(StrEnum):
    WHATSAPP = "WhatsApp"
    FACEBOOK = "Facebook"
    INSTAGRAM = "Instagram"
    WEB_FORM = "Formulir Web"
    OPEN311 = "Open311"
    SOCIAL_MEDIA = "Media Sosial"
    MASS_MEDIA = "Media Massa"


class Status(StrEnum):
    NEW = "Baru"
    IN_PROGRESS = "Diproses"
    DONE = "Selesai"
    NOT_OURS = "Bukan Wewenang"


class Sla(StrEnum):
    RUNNING = "Berjalan"
    OVERDUE = "Terlambat"
    ON_TIME = "Tepat Waktu"
    LATE = "Terlambat Ditanggapi"


class Sentiment(StrEnum):
    NEGATIVE = "Negatif"
    NEUTRAL = "Netral"
    POSITIVE = "Positif"


TRIAGE = "TRIASE"
OUTSIDE = "LUAR_PEMDA"
ANONYMOUS = "Anonim"  # the citizen asked to stay anonymous
NO_NAME = "Tanpa Nama"  # no (usable) name was given


@dataclass(frozen=True)
class Contact:
    """Who filed a case. Lives only in the private contact store."""

    name: str = ""
    phone: str = ""
    channel_user_id: str = ""  # wa_id, PSID, IGSID ... the key for replies
    email: str = ""
    anonymous: bool = False


@dataclass(frozen=True)
class Complaint:
    """A complaint as a channel hands it to intake (before routing and storage)."""

    text: str
    channel: Channel
    received_at: datetime
    contact: Contact = field(default_factory=Contact)
    source_id: str = ""  # message id / post URL: redelivery yields the same ticket
    location: str = ""
    link: str = ""
    sentiment: Sentiment | None = None
    opd: str = ""  # a channel may already know the OPD (Open311 service code)
    category: str = ""


@dataclass(frozen=True)
class Route:
    opd: str
    topic: str
    confidence: float
    location: str = ""


@dataclass(frozen=True)
class Receipt:
    """What intake answers: the citizen's ticket and where it went."""

    ticket_id: str
    opd: str
    deadline: datetime
    created: bool  # False when the source id was seen before (redelivery)


class InvalidComplaint(ValueError):
    """Input a person must correct; `message` is Indonesian and safe to show."""

    def __init__(self, message: str, field: str = "text"):
        super().__init__(message)
        self.message = message
        self.field = field


class StorageUnavailable(RuntimeError):
    """The store could not be reached or written; nothing was acknowledged."""


class UnknownTicket(LookupError):
    pass
