"""The sheet's vocabulary is the contract: enums, schema data and DESIGN.md agree."""
from functions.model import Channel, Sentiment, Sla, Status
from functions.schema import load_schema

CONTRACT_OPDS = ["PUTR", "PERKIM", "DLH", "DINKES", "RSUD", "DISDUKCAPIL", "DISDIK", "DINSOS", "DP3A", "DISHUB",
                 "SATPOLPP", "BPBD", "DAMKAR", "PDAM", "DISPERINDAGKOP", "DPMPTSP", "DISKOMINFO", "DISNAKERTRANS",
                 "DISTANAKBUN", "DKPKP", "DPMD", "DISPARBUD", "DISPORA", "BPKAD", "BKPSDM", "KESBANGPOL",
                 "INSPEKTORAT", "KECAMATAN"]
CONTRACT_COLUMNS = ["ticket_id", "received_at", "channel", "reporter", "contact", "text", "location", "link",
                    "category", "sentiment", "status", "response", "responder", "forward_to", "deadline",
                    "responded_at", "sla", "reply_sent_at"]


def test_sheet_values_are_the_contract_values():
    assert [c.value for c in Channel] == ["WhatsApp", "Facebook", "Instagram", "Formulir Web", "Open311",
                                          "Media Sosial", "Media Massa"]
    assert [s.value for s in Status] == ["Baru", "Diproses", "Selesai", "Bukan Wewenang"]
    assert [s.value for s in Sla] == ["Berjalan", "Terlambat", "Tepat Waktu", "Terlambat Ditanggapi"]
    assert [s.value for s in Sentiment] == ["Negatif", "Netral", "Positif"]


def test_schema_dropdowns_match_the_enums():
    schema = load_schema()
    assert schema.choices("status") == tuple(s.value for s in Status)
    assert schema.choices("sla") == tuple(s.value for s in Sla)
    assert schema.choices("sentiment") == tuple(s.value for s in Sentiment)
    assert schema.values["channels"] == [c.value for c in Channel]


def test_every_contract_opd_key_and_the_two_special_tabs_exist():
    keys = load_schema().opd_keys
    assert set(CONTRACT_OPDS) | {"TRIASE", "LUAR_PEMDA"} == set(keys)
    assert len(keys) == len(set(keys)) == 30


def test_contract_columns_come_first_in_order_and_only_staff_columns_are_editable():
    schema = load_schema()
    assert list(schema.column_keys[: len(CONTRACT_COLUMNS)]) == CONTRACT_COLUMNS
    assert schema.staff_keys == {"status", "response", "responder", "forward_to", "location"}


def test_twenty_kecamatan():
    names = [k.name for k in load_schema().kecamatan]
    assert len(names) == 20 and "Delta Pawan" in names and "Sungai Melayu Rayak" in names
