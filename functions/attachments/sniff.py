"""What a file really is, from its first bytes (never from its name or the sender's MIME type),
and how long an Ogg/Opus voice note lasts. Pure: no I/O.

Magic numbers: JPEG FF D8 FF; PNG 89 50 4E 47 0D 0A 1A 0A; GIF "GIF87a"/"GIF89a"; WebP "RIFF"
....  "WEBP"; Ogg "OggS" (Opus when the first packet starts "OpusHead", RFC 7845 section 5.1);
MP4/3GP/M4A an ISO BMFF "ftyp" box at offset 4 (brand 3gp*/M4A tells them apart); AMR "#!AMR";
MP3 "ID3" or an MPEG frame sync; PDF "%PDF-"; DOCX/XLSX/PPTX are ZIP "PK\\x03\\x04"; the old
Office formats share the OLE2 header D0 CF 11 E0 A1 B1 1A E1.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

# The family a declared media kind belongs to; the bytes must fall in the same family.
FAMILY_OF_KIND = {"image": "image", "sticker": "image", "audio": "audio", "video": "video",
                  "document": "document", "file": "document", "photo": "image"}


@dataclass(frozen=True)
class Sniffed:
    family: str  # image | audio | video | document
    mime: str
    ext: str


def sniff(data: bytes) -> Sniffed | None:
    """The real type of `data`, or None when it is none of the kinds a complaint may carry."""
    head = data[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed("image", "image/jpeg", "jpg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed("image", "image/png", "png")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Sniffed("image", "image/gif", "gif")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Sniffed("image", "image/webp", "webp")
    if head.startswith(b"OggS"):
        if b"OpusHead" in data[:200]:
            return Sniffed("audio", "audio/ogg", "ogg")
        return Sniffed("audio", "audio/ogg", "oga")
    if head.startswith(b"#!AMR"):
        return Sniffed("audio", "audio/amr", "amr")
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0
                                   and head[1] & 0x06):  # MPEG audio frame sync (layer bits set)
        return Sniffed("audio", "audio/mpeg", "mp3")
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand.startswith(b"3gp") or brand.startswith(b"3g2"):
            return Sniffed("video", "video/3gpp", "3gp")
        if brand in (b"M4A ", b"M4B "):
            return Sniffed("audio", "audio/mp4", "m4a")
        return Sniffed("video", "video/mp4", "mp4")
    if head.startswith(b"%PDF-"):
        return Sniffed("document", "application/pdf", "pdf")
    if head.startswith(b"PK\x03\x04"):
        return _zip_kind(data)
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return Sniffed("document", "application/x-ole-storage", "doc")
    if _plain_text(data[:4096]):
        return Sniffed("document", "text/plain", "txt")
    return None


def _plain_text(window: bytes) -> bool:
    if not window or b"\x00" in window:
        return False
    try:
        window.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start >= len(window) - 3  # only a character cut at the window's edge
    return True


def _zip_kind(data: bytes) -> Sniffed:
    """Office Open XML files are ZIPs whose entries name the application."""
    window = data[:4096]
    if b"word/" in window:
        return Sniffed("document", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx")
    if b"xl/" in window:
        return Sniffed("document", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx")
    if b"ppt/" in window:
        return Sniffed("document", "application/vnd.openxmlformats-officedocument.presentationml.presentation",
                       "pptx")
    return Sniffed("document", "application/zip", "zip")


def opus_seconds(data: bytes) -> float | None:
    """The length of an Ogg/Opus stream: the last page's granule position (48 kHz samples) minus
    the pre-skip of the OpusHead header (RFC 7845 sections 4 and 5.1). None when unreadable."""
    if not data.startswith(b"OggS"):
        return None
    head = data.find(b"OpusHead")
    if head < 0 or len(data) < head + 12:
        return None
    pre_skip = struct.unpack_from("<H", data, head + 10)[0]
    last = data.rfind(b"OggS")
    while last >= 0:
        if len(data) >= last + 14 and data[last + 4] == 0:  # stream structure version 0
            granule = struct.unpack_from("<q", data, last + 6)[0]
            if granule >= 0:
                return max(0.0, (granule - pre_skip) / 48000.0)
        last = data.rfind(b"OggS", 0, last)
    return None


def clock_text(seconds: float) -> str:
    """0:42, 1:05, 12:00 (minutes:seconds, rounded)."""
    total = int(round(seconds))
    return f"{total // 60}:{total % 60:02d}"
