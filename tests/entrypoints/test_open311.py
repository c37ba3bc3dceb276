"""Open311 GeoReport v2 (/open311/v2/...), checked against the spec's field names, types,
formats and error shape (wiki.open311.org/GeoReport_v2)."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from xml.etree import ElementTree as ET

import pytest

from functions.bootstrap import build
from functions.model import Channel, Complaint, Contact, StorageUnavailable
from functions.routing import load_rules
from functions.queue.port import QueueUnavailable
from functions.server import make_app
from tests.draining import drain, draining_client
from functions.services.intake import build_row
from functions.services.jobs import sweep_job
from functions.services.staff import staff_edit
from functions.model import Route, Sentiment
from functions.stores.port import NewCase
from functions.services.intake import intake

KEY = "kunci-mitra-1"
SERVICE_FIELDS = {"service_code": str, "service_name": str, "description": str, "metadata": bool,
                  "type": str, "keywords": str, "group": str}
# GET Service Request(s) response fields; None allowed where the spec says "may not be returned"
# or the value is unknown to us.
REQUEST_FIELDS = ["service_request_id", "status", "status_notes", "service_name", "service_code",
                  "description", "agency_responsible", "service_notice", "requested_datetime",
                  "updated_datetime", "expected_datetime", "address", "address_id", "zipcode", "lat",
                  "long", "media_url"]
PERSON = {"first_name": "Siti", "last_name": "Aminah", "phone": "081298765432", "email": "siti@example.id"}


@pytest.fixture
def svc(settings, clock):
    services = build(replace(settings, open311_keys=(KEY, "kunci-mitra-2")), clock=clock)
    services.workbook.bootstrap()
    return services


@pytest.fixture
def api(svc):
    return draining_client(svc)  # stores what each POST queued, as serve's drain thread does


def post(api, fmt="json", headers=None, **fields):
    data = {"api_key": KEY, "service_code": "jalan-rusak", "address_string": "Jl. Poros Sukabangun",
            "description": "Jalan berlubang besar di depan SD 5, sudah ada motor jatuh", **PERSON}
    data.update(fields)
    return api.post(f"/open311/v2/requests.{fmt}", data={k: v for k, v in data.items() if v is not None},
                    headers=headers or {})


def created(api, **fields) -> str:
    reply = post(api, **fields)
    assert reply.status_code == 200, reply.get_json()
    return reply.get_json()[0]["service_request_id"]


def assert_error(reply, status, code=None, words=""):
    assert reply.status_code == status
    body = reply.get_json()
    assert isinstance(body, list) and len(body) >= 1
    assert set(body[0]) == {"code", "description"}
    assert body[0]["code"] == (code or status) and isinstance(body[0]["description"], str)
    assert words in body[0]["description"]


def parse_w3(value: str) -> datetime:
    assert value.endswith("+07:00"), value  # WIB offset, as the spec requires an offset
    moment = datetime.fromisoformat(value)
    assert moment.utcoffset() == timedelta(hours=7)
    return moment


def xml_of(reply) -> ET.Element:
    assert reply.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert reply.data.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(reply.data)


# -- services ----------------------------------------------------------------------------------

def test_services_json_lists_one_service_per_routing_topic_with_the_spec_fields(api, svc):
    reply = api.get("/open311/v2/services.json")
    assert reply.status_code == 200 and reply.headers["Content-Type"] == "application/json; charset=utf-8"
    services = reply.get_json()
    for service in services:
        assert set(service) == set(SERVICE_FIELDS)
        for name, kind in SERVICE_FIELDS.items():
            assert isinstance(service[name], kind), (service, name)
        assert service["type"] == "realtime" and service["metadata"] is False
    codes = [s["service_code"] for s in services]
    assert len(set(codes)) == len(codes)
    topics = {r.topic for r in load_rules().rules}
    assert {s["service_name"] for s in services} == topics | {"Lainnya"}
    by_code = {s["service_code"]: s for s in services}
    assert by_code["jalan-rusak"]["group"] == "Dinas Pekerjaan Umum dan Tata Ruang"
    assert by_code["lampu-jalan"]["group"] == "Dinas Perhubungan"
    assert "aspal" in by_code["jalan-rusak"]["keywords"]
    assert codes[-1] == "lainnya"


def test_services_xml_is_the_same_list_in_spark_convention(api):
    as_json = api.get("/open311/v2/services.json").get_json()
    root = xml_of(api.get("/open311/v2/services.xml"))
    assert root.tag == "services" and [e.tag for e in root] == ["service"] * len(as_json)
    first = {child.tag: child.text for child in root[0]}
    assert first == {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in as_json[0].items()}


def test_service_definition_offers_the_kecamatan_list(api, svc):
    reply = api.get("/open311/v2/services/jalan-rusak.json")
    definition = reply.get_json()
    assert reply.status_code == 200 and definition["service_code"] == "jalan-rusak"
    (attribute,) = definition["attributes"]
    assert set(attribute) == {"variable", "code", "datatype", "required", "datatype_description", "order",
                              "description", "values"}
    assert attribute["datatype"] == "singlevaluelist" and attribute["required"] is False
    assert [v["key"] for v in attribute["values"]] == [k.name for k in svc.schema.kecamatan]
    root = xml_of(api.get("/open311/v2/services/jalan-rusak.xml"))
    assert root.tag == "service_definition"
    assert [e.tag for e in root.find("attributes")] == ["attribute"]
    assert len(root.find("attributes/attribute/values").findall("value")) == 20


def test_unknown_service_definition_is_404_in_the_error_format(api):
    assert_error(api.get("/open311/v2/services/tidak-ada.json"), 404, words="tidak-ada")
    root = xml_of(api.get("/open311/v2/services/tidak-ada.xml"))
    assert root.tag == "errors" and root.find("error/code").text == "404"


# -- POST requests -----------------------------------------------------------------------------

def test_post_creates_a_case_on_channel_open311_in_the_services_opd(api, svc):
    reply = post(api, **{"attribute[kecamatan]": "Delta Pawan", "lat": "-1.8512", "long": "109.9753",
                         "media_url": "https://foto.example/lubang.jpg"})
    assert reply.status_code == 200
    (answer,) = reply.get_json()
    assert set(answer) == {"service_request_id", "service_notice", "account_id"}
    assert answer["account_id"] is None
    ticket = answer["service_request_id"]
    assert ticket.startswith("KMC-261102-")
    assert "Dinas Pekerjaan Umum dan Tata Ruang" in answer["service_notice"]
    assert "Rabu, 4 November 2026 pukul 08.00 WIB" in answer["service_notice"]
    stored = svc.workbook.find(ticket)
    assert stored.tab == "PUTR"
    row = stored.row
    assert row["channel"] == "Open311" and row["category"] == "Jalan rusak"
    assert row["location"] == "Jl. Poros Sukabangun, Kecamatan Delta Pawan, (-1.851200, 109.975300)"
    assert row["link"] == "https://foto.example/lubang.jpg"
    assert row["reporter"] == "Siti A." and row["contact"] == "0812****5432"
    contact = svc.contacts.get(ticket).contact
    assert (contact.name, contact.phone, contact.email) == ("Siti Aminah", "081298765432", "siti@example.id")


def test_the_service_decides_the_opd_even_when_the_words_point_elsewhere(api, svc):
    ticket = created(api, service_code="air-bersih-pdam", description="tolong dicek, sudah 3 hari")
    assert svc.workbook.find(ticket).tab == "PDAM"


def test_lainnya_lets_the_router_decide(api, svc):
    ticket = created(api, service_code="lainnya",
                     description="Sampah di depan pasar kota menumpuk seminggu tidak diangkut")
    assert svc.workbook.find(ticket).tab == "DLH"


def test_description_may_be_left_out_for_a_topic_service(api, svc):
    ticket = created(api, service_code="lampu-jalan", description=None)
    assert svc.workbook.find(ticket).row["text"] == "Lampu jalan (PJU) di Jl. Poros Sukabangun"


def test_post_xml_answers_in_xml(api):
    root = xml_of(post(api, fmt="xml"))
    assert root.tag == "service_requests"
    request = root.find("request")
    assert request.find("service_request_id").text.startswith("KMC-")
    assert request.find("account_id").text is None


@pytest.mark.parametrize("fields, status, words", [
    ({"api_key": None}, 403, "api_key wajib"),
    ({"api_key": "salah"}, 403, "api_key tidak valid"),
    ({"service_code": None}, 400, "service_code wajib"),
    ({"service_code": "tidak-ada"}, 404, "tidak ditemukan"),
    ({"address_string": None}, 400, "Lokasi wajib"),
    ({"address_string": None, "lat": "-1.85"}, 400, "lat dan long"),
    ({"lat": "utara", "long": "109.9"}, 400, "lat harus berupa angka"),
    ({"lat": "-91", "long": "109.9"}, 400, "lat di luar rentang"),
    ({"attribute[kecamatan]": "Pontianak Kota"}, 400, "bukan kecamatan"),
    ({"phone": "12345"}, 400, "phone"),
    ({"media_url": "javascript:alert(1)"}, 400, "media_url"),
    ({"description": "x" * 4001}, 400, "description terlalu panjang"),
    ({"service_code": "lainnya", "description": None}, 400, "description wajib"),
])
def test_bad_posts_get_spec_errors_and_store_nothing(api, svc, fields, status, words):
    assert_error(post(api, **fields), status, words=words)
    assert not any(svc.workbook.read_all().values())


def test_post_is_closed_when_no_keys_are_configured(settings, clock):
    svc = build(settings, clock=clock)  # KMC_OPEN311_KEYS unset
    svc.workbook.bootstrap()
    assert_error(post(make_app(svc).test_client()), 403, words="KMC_OPEN311_KEYS")


def test_idempotency_key_makes_a_retry_return_the_same_ticket(api, svc):
    first = created(api, headers={"Idempotency-Key": "mitra-0001"})
    again = created(api, headers={"Idempotency-Key": "mitra-0001"})
    other = created(api, headers={"Idempotency-Key": "mitra-0002"})
    assert first == again != other
    assert sum(len(rows) for rows in svc.workbook.read_all().values()) == 2


def test_sheets_outage_still_answers_the_id_at_once_and_the_case_lands_later(settings, clock):
    class DownWorkbook:
        down = True

        def __init__(self, inner):
            self.inner = inner

        def append(self, cases):
            if self.down:
                raise StorageUnavailable("Sheets API 503")
            return self.inner.append(cases)

        def __getattr__(self, name):
            return getattr(self.inner, name)

    real = build(replace(settings, open311_keys=(KEY,)), clock=clock)
    real.workbook.bootstrap()
    down = DownWorkbook(real.workbook)
    svc = build(replace(settings, open311_keys=(KEY,)), clock=clock, workbook=down, contacts=real.contacts)
    api = draining_client(svc)
    ticket = created(api)
    pending = api.get(f"/open311/v2/requests/{ticket}.json").get_json()[0]
    assert pending["status"] == "open" and "Sedang dicatat" in pending["status_notes"]
    assert not any(real.workbook.read_all().values())
    down.down = False
    svc.queue.clock = lambda: 10 ** 10  # past the queue's backoff
    drain(svc)
    stored = api.get(f"/open311/v2/requests/{ticket}.json").get_json()[0]
    assert stored["service_code"] == "jalan-rusak" and stored["agency_responsible"]


def test_queue_outage_is_a_general_service_error_with_retry_after(settings, clock):
    class DownQueue:
        def put(self, job):
            raise QueueUnavailable("disk full")

        def lookup(self, ticket):
            return None

    svc = build(replace(settings, open311_keys=(KEY,)), clock=clock, queue=DownQueue())
    svc.workbook.bootstrap()
    reply = post(make_app(svc).test_client())
    assert_error(reply, 400, code=503, words="Kirim ulang")
    assert reply.headers["Retry-After"] == "30"
    assert not any(svc.workbook.read_all().values())


# -- GET requests ------------------------------------------------------------------------------

def test_get_request_has_the_spec_fields_and_types_and_no_personal_data(api, svc):
    ticket = created(api, lat="-1.8512", long="109.9753", media_url="https://foto.example/a.jpg")
    reply = api.get(f"/open311/v2/requests/{ticket}.json")
    assert reply.status_code == 200
    (request,) = reply.get_json()
    assert list(request) == REQUEST_FIELDS
    assert request["service_request_id"] == ticket and request["status"] == "open"
    assert request["service_code"] == "jalan-rusak" and request["service_name"] == "Jalan rusak"
    assert request["agency_responsible"] == "Dinas Pekerjaan Umum dan Tata Ruang"
    assert request["description"].startswith("Jalan berlubang besar")
    assert request["address"] == "Jl. Poros Sukabangun"
    assert (request["lat"], request["long"]) == (-1.8512, 109.9753)
    assert request["media_url"] == "https://foto.example/a.jpg"
    requested = parse_w3(request["requested_datetime"])
    assert parse_w3(request["expected_datetime"]) - requested == timedelta(hours=48)
    assert parse_w3(request["updated_datetime"]) == requested
    assert request["status_notes"] is None
    raw = reply.get_data(as_text=True) + api.get(f"/open311/v2/requests/{ticket}.xml").get_data(as_text=True)
    for personal in ("Siti", "Aminah", "0812", "98765432", "5432", "siti@example.id", "****"):
        assert personal not in raw


def test_ticket_in_the_url_may_be_typed_loosely(api):
    ticket = created(api)
    loose = ticket.lower().replace("-", "")
    assert api.get(f"/open311/v2/requests/{loose}.json").get_json()[0]["service_request_id"] == ticket


def test_unknown_request_is_404_in_json_and_xml(api):
    assert_error(api.get("/open311/v2/requests/KMC-261102-ZZZZZ.json"), 404)
    root = xml_of(api.get("/open311/v2/requests/KMC-261102-ZZZZZ.xml"))
    assert root.find("error/code").text == "404"


@pytest.mark.parametrize("status", ["Selesai", "Bukan Wewenang", "selesai"])
def test_closed_when_staff_finish_and_the_response_is_the_status_notes(api, svc, clock, status):
    ticket = created(api)
    clock.advance(hours=5)
    staff_edit(svc.workbook, svc.schema, ticket, [f"status={status}", "response=Lubang sudah ditambal."],
               svc.settings.ticket_prefix)
    sweep_job(svc)
    (request,) = api.get(f"/open311/v2/requests/{ticket}.json").get_json()
    assert request["status"] == "closed" and request["status_notes"] == "Lubang sudah ditambal."
    assert parse_w3(request["updated_datetime"]) == datetime.fromisoformat("2026-11-02T13:00:00+07:00")


def test_in_progress_stays_open(api, svc):
    ticket = created(api)
    staff_edit(svc.workbook, svc.schema, ticket, ["status=Diproses"], svc.settings.ticket_prefix)
    assert api.get(f"/open311/v2/requests/{ticket}.json").get_json()[0]["status"] == "open"


def test_requests_xml_mirrors_json(api):
    ticket = created(api)
    as_json = api.get("/open311/v2/requests.json").get_json()
    root = xml_of(api.get("/open311/v2/requests.xml"))
    assert root.tag == "service_requests" and [e.tag for e in root] == ["request"]
    assert [child.tag for child in root[0]] == REQUEST_FIELDS
    assert root[0].find("service_request_id").text == ticket == as_json[0]["service_request_id"]
    assert root[0].find("description").text == as_json[0]["description"]


def _web_case(svc, clock, text="Lampu jalan di Jalan Gajah Mada mati sudah dua minggu"):
    return intake(svc, Complaint(text=text, channel=Channel.WEB_FORM, received_at=clock(),
                                contact=Contact(name="Rudi Hartono", phone="081234567803"),
                                location="Jl. Gajah Mada No. 5, Kecamatan Delta Pawan")).ticket_id


def test_lists_hold_only_open311_cases_and_other_channels_need_their_ticket(api, svc, clock):
    mine = created(api)
    web = _web_case(svc, clock)
    listed = [r["service_request_id"] for r in api.get("/open311/v2/requests.json").get_json()]
    assert listed == [mine]
    (by_id,) = api.get(f"/open311/v2/requests/{web}.json").get_json()
    assert by_id["service_code"] == "lampu-jalan" and by_id["agency_responsible"] == "Dinas Perhubungan"
    assert by_id["description"] is None and by_id["address"] is None and by_id["media_url"] is None
    raw = api.get(f"/open311/v2/requests/{web}.json").get_data(as_text=True)
    for private in ("Rudi", "Gajah Mada", "0812", "7803"):
        assert private not in raw


def test_service_request_id_list_overrides_the_other_filters(api, svc, clock):
    a = created(api)
    b = created(api, service_code="lampu-jalan", description="Lampu jalan mati di gang Mawar")
    web = _web_case(svc, clock)
    reply = api.get("/open311/v2/requests.json",
                    query_string={"service_request_id": f"{b},{web.lower()},KMC-261102-ZZZZZ",
                                  "status": "closed", "service_code": "sampah"})
    assert [r["service_request_id"] for r in reply.get_json()] == [b, web]
    assert a not in reply.get_data(as_text=True)


def test_filters_by_service_code_and_status(api, svc):
    road = created(api)
    lamp = created(api, service_code="lampu-jalan", description="Lampu jalan mati di gang Mawar")
    staff_edit(svc.workbook, svc.schema, lamp, ["status=Selesai", "response=Sudah diganti."],
               svc.settings.ticket_prefix)

    def ids(**query):
        reply = api.get("/open311/v2/requests.json", query_string=query)
        assert reply.status_code == 200, reply.get_json()
        return {r["service_request_id"] for r in reply.get_json()}

    assert ids(service_code="lampu-jalan") == {lamp}
    assert ids(service_code="lampu-jalan,jalan-rusak") == {lamp, road}
    assert ids(status="open") == {road}
    assert ids(status="closed") == {lamp}
    assert ids(status="open,closed") == {road, lamp}


def test_date_range_defaults_to_the_last_90_days_newest_first(api, svc, clock):
    old = created(api)
    clock.advance(days=91)
    recent = created(api, description="Jalan rusak lagi di tempat yang sama, lubang makin besar")
    clock.advance(hours=1)
    newest = created(api, description="Jalan amblas di dekat jembatan, bahaya untuk motor")

    def ids(**query):
        reply = api.get("/open311/v2/requests.json", query_string=query)
        assert reply.status_code == 200, reply.get_json()
        return [r["service_request_id"] for r in reply.get_json()]

    assert ids() == [newest, recent]
    assert ids(start_date="2026-11-01T00:00:00Z", end_date="2026-11-03T00:00:00Z") == [old]
    assert ids(start_date="2026-11-02T00:00:00+07:00") == [old]  # start .. start + 90 days
    assert ids(end_date="2026-11-03") == [old]
    assert ids(start_date="2027-01-15T00:00:00+07:00", end_date="2027-02-15T00:00:00+07:00") == [newest, recent]
    assert ids(start_date="2027-03-01T00:00:00+07:00", end_date="2027-05-01T00:00:00+07:00") == []


@pytest.mark.parametrize("query, words", [
    ({"start_date": "kemarin"}, "start_date"),
    ({"end_date": "2026-13-45"}, "end_date"),
    ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}, "90 hari"),
    ({"start_date": "2026-06-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"}, "lebih awal"),
    ({"status": "pending"}, "status"),
])
def test_bad_filters_are_400_in_the_error_format(api, query, words):
    assert_error(api.get("/open311/v2/requests.json", query_string=query), 400, words=words)


def test_lists_stop_at_1000_requests(api, svc, clock):
    rows = []
    for n in range(1005):
        complaint = Complaint(text=f"Jalan rusak nomor {n}", channel=Channel.OPEN311,
                              received_at=clock() + timedelta(minutes=n), category="Jalan rusak")
        rows.append(NewCase("PUTR", build_row(complaint, f"KMC-261102-{n:05d}", Route("PUTR", "Jalan rusak", 1.0),
                                              Sentiment.NEGATIVE, complaint.received_at + timedelta(hours=48))))
    svc.workbook.append(rows)
    clock.advance(days=2)
    listed = api.get("/open311/v2/requests.json").get_json()
    assert len(listed) == 1000
    assert listed[0]["service_request_id"] == "KMC-261102-01004"  # newest first


# -- discovery, paths, methods -----------------------------------------------------------------

def test_discovery_names_the_v2_endpoint_and_its_formats(api):
    discovery = api.get("/open311/discovery.json").get_json()
    (endpoint,) = discovery["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == "http://localhost/open311/v2"
    assert set(endpoint["formats"]) == {"text/xml", "application/json"}
    assert api.get(endpoint["url"].replace("http://localhost", "") + "/services.json").status_code == 200
    root = xml_of(api.get("/open311/discovery.xml"))
    assert [e.tag for e in root.find("endpoints")] == ["endpoint"]


def test_unknown_paths_and_methods_answer_in_the_error_format(api):
    assert_error(api.get("/open311/v2/kucing.json"), 404)
    assert_error(api.get("/open311/v2/services"), 404)  # the format suffix is required
    assert_error(api.get("/open311/v2/tokens/123.json"), 404, words="realtime")
    reply = api.delete("/open311/v2/requests.json")
    assert_error(reply, 405)
    assert "POST" in reply.headers["Allow"]
    assert_error(api.post("/open311/v2/services.json"), 405)


def test_the_cloud_function_serves_the_same_paths_without_the_mount(monkeypatch, tmp_path):
    from pathlib import Path

    from functions_framework import create_app

    from functions.bootstrap import services

    for key in ("KMC_BACKEND", "K_SERVICE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("KMC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KMC_OPEN311_KEYS", KEY)
    services.cache_clear()
    try:
        services().workbook.bootstrap()
        root = Path(__file__).resolve().parents[2]
        client = create_app(target="open311", source=str(root / "main.py")).test_client()
        assert client.get("/v2/services.json").status_code == 200
        reply = post(client)
        assert reply.status_code == 200
        ticket = reply.get_json()[0]["service_request_id"]
        assert json.loads(client.get(f"/v2/requests/{ticket}.json").data)[0]["status"] == "open"
    finally:
        services.cache_clear()
