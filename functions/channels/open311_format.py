"""Open311 GeoReport v2: the service list and how requests are rendered (JSON and the Spark
XML convention), for channels/open311.py. What the public may see of a case is decided here
(see that module's docstring: privacy)."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

from ..model import TRIAGE, Channel
from ..text import strip_invisible
from .public_case import PublicCase, format_wib, sla_phrase

if TYPE_CHECKING:
    from ..case import Case
    from ..services.context import Services

OTHER = "lainnya"
OPEN311_CHANNEL = str(Channel.OPEN311)
# Cases whose mere location is sensitive (violence against women and children).
NO_ADDRESS_OPDS = frozenset({"DP3A"})

JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"
# Element names of list items in XML (the Spark convention: plural container, singular item).
XML_ITEMS = {"services": "service", "service_requests": "request", "errors": "error",
             "attributes": "attribute", "values": "value", "endpoints": "endpoint", "formats": "format"}


class Open311Error(Exception):
    def __init__(self, status: int, description: str, code: int | None = None, headers: dict | None = None):
        super().__init__(description)
        self.status = status
        self.code = code or status
        self.description = description
        self.headers = headers or {}


@dataclass(frozen=True)
class Service:
    code: str
    name: str
    description: str
    group: str
    keywords: str
    opd: str  # the OPD key that answers it; "" = the router decides
    topic: str  # written into the Kategori column


def _slug(text: str) -> str:
    text = re.sub(r"\(.*?\)", " ", text)  # "Listrik PLN (bukan kewenangan Pemkab)" -> "listrik-pln"
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "layanan"


def _keywords(sources) -> str:
    words: list[str] = []
    for source in sources:
        word = re.sub(r":\s*[\d.,]+$", "", source).replace("&", " ").replace("*", "")
        word = " ".join(word.split())
        if word and word not in words:
            words.append(word)
    return ", ".join(words[:10])


@cache
def _catalogue(schema) -> tuple[Service, ...]:
    from ..routing import load_rules

    services: list[Service] = []
    seen: set[str] = set()
    for rule in load_rules().rules:
        try:
            opd = schema.opd(rule.opd)
        except KeyError:
            continue
        code = _slug(rule.topic)
        if code in seen:
            code = f"{code}-{rule.opd.lower()}"
        seen.add(code)
        description = f"{rule.topic}. Ditangani oleh {opd.name}."
        if opd.kind == "outside":
            description = f"{rule.topic}. KMC meneruskannya ke instansi yang berwenang."
        services.append(Service(code, rule.topic, description, opd.name,
                                _keywords(k.source for k in rule.keywords), rule.opd, rule.topic))
    services.append(Service(OTHER, "Lainnya",
                            "Aduan yang tidak ada di daftar; KMC menentukan OPD yang berwenang.",
                            "Lainnya", "lain-lain, umum", "", ""))
    return tuple(services)


def catalogue(svc: "Services") -> tuple[Service, ...]:
    return _catalogue(svc.schema)


def _service_for(svc: "Services", topic: str) -> Service:
    for service in catalogue(svc):
        if service.topic and service.topic == topic:
            return service
    return catalogue(svc)[-1]  # lainnya


def service_json(s: Service) -> dict:
    return {"service_code": s.code, "service_name": s.name, "description": s.description,
            "metadata": False, "type": "realtime", "keywords": s.keywords, "group": s.group}


def definition_json(svc: "Services", s: Service) -> dict:
    return {
        "service_code": s.code,
        "attributes": [{
            "variable": True,
            "code": "kecamatan",
            "datatype": "singlevaluelist",
            "required": False,
            "datatype_description": "Salah satu dari 20 kecamatan di Kabupaten Ketapang",
            "order": 1,
            "description": "Kecamatan tempat masalah terjadi (boleh dikosongkan)",
            "values": [{"key": k.name, "name": k.name} for k in svc.schema.kecamatan],
        }],
    }


def _iso(moment: datetime | None, tz) -> str | None:
    return moment.astimezone(tz).isoformat(timespec="seconds") if moment else None


def _xml_value(parent: ET.Element, tag: str, value: Any) -> None:
    element = ET.SubElement(parent, tag)
    if isinstance(value, list):
        for item in value:
            _xml_value(element, XML_ITEMS.get(tag, "item"), item)
    elif isinstance(value, dict):
        for key, inner in value.items():
            _xml_value(element, key, inner)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = xml_text(str(value))


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: str) -> str:
    """Text XML 1.0 can carry: the cleaning policy (controls, escapes, bidi) and then anything
    still outside XML's character range (staff may type anything into a sheet cell)."""
    return _NOT_XML.sub("", strip_invisible(value))


def to_xml(root: str, data: Any) -> bytes:
    """The Spark-convention XML of `data` under `root`, with the UTF-8 declaration."""
    holder = ET.Element("holder")
    _xml_value(holder, root, data)
    ET.indent(holder[0])
    body = ET.tostring(holder[0], encoding="unicode")
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + body).encode("utf-8")


def reply(data: Any, root: str, fmt: str, status: int = 200, headers: dict | None = None):
    import json

    if fmt == "xml":
        return to_xml(root, data), status, {"Content-Type": XML_TYPE, **(headers or {})}
    return (json.dumps(data, ensure_ascii=False).encode("utf-8"), status,
            {"Content-Type": JSON_TYPE, **(headers or {})})


def error_reply(e: Open311Error, fmt: str):
    return reply([{"code": e.code, "description": e.description}], "errors", fmt, e.status, e.headers)


def service_notice(svc: "Services", opd: str, deadline: datetime) -> str:
    when = f"{format_wib(deadline, svc.settings.tz)} ({sla_phrase(svc.settings.sla_hours)})"
    if opd == TRIAGE:
        return f"Diterima KMC; KMC menentukan OPD yang berwenang. Batas waktu tanggapan: {when}."
    try:
        agency = svc.schema.opd(opd).name
    except KeyError:
        agency = opd
    return f"Diteruskan ke {agency}. Batas waktu tanggapan: {when}."


_COORDS = re.compile(r"\((-?\d{1,2}\.\d+),\s*(-?\d{1,3}\.\d+)\)\s*$")


def request_json(svc: "Services", case: PublicCase, stored: "Case | None") -> dict:
    """One service request as the public may see it (channels/open311.py docstring: privacy);
    `stored` is None for the honeypot's made-up case."""
    tz = svc.settings.tz
    own = case.channel == OPEN311_CHANNEL  # submitted through this API: its text is the client's
    service = _service_for(svc, case.category)
    location = stored.location if stored is not None else ""
    coords = _COORDS.search(location) if own else None
    return {
        "service_request_id": case.ticket_id,
        "status": "closed" if case.closed else "open",
        "status_notes": (case.response or None) if own else None,
        "service_name": service.name,
        "service_code": service.code,
        "description": (stored.text if stored is not None else "") if own else None,
        "agency_responsible": case.agency,
        "service_notice": service_notice(svc, case.tab, case.deadline) if case.deadline else None,
        "requested_datetime": _iso(case.received_at, tz),
        "updated_datetime": _iso(case.updated_at, tz),
        "expected_datetime": _iso(case.deadline, tz),
        "address": _COORDS.sub("", location).strip(" ,") or None
        if own and case.tab not in NO_ADDRESS_OPDS else None,
        "address_id": None,
        "zipcode": None,
        "lat": float(coords.group(1)) if coords and case.tab not in NO_ADDRESS_OPDS else None,
        "long": float(coords.group(2)) if coords and case.tab not in NO_ADDRESS_OPDS else None,
        "media_url": ((stored.link if stored is not None else "") or None) if own else None,
    }


def pending_json(ticket: str, accepted_at: datetime, tz) -> dict:
    """A request accepted but not stored yet: open, and being recorded."""
    return {"service_request_id": ticket, "status": "open",
            "status_notes": "Sedang dicatat: permintaan sudah diterima dan sedang dicatat ke lembar kerja OPD.",
            "service_name": None, "service_code": None, "description": None, "agency_responsible": None,
            "service_notice": None, "requested_datetime": _iso(accepted_at, tz),
            "updated_datetime": _iso(accepted_at, tz), "expected_datetime": None, "address": None,
            "address_id": None, "zipcode": None, "lat": None, "long": None, "media_url": None}
