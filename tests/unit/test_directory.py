"""The Kontak OPD directory: what a KMC admin may type, what is refused, and the templates KMC
submits to Meta (the docs and the code must say the same)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from functions.directory import (DirectorySource, InvalidContact, apply_assignments, normalise_whatsapp,
                                 parse_directory, seed_rows)
from functions.schema import load_schema
from functions.services.notify import HEAD_TEMPLATES

ROOT = Path(__file__).resolve().parents[2]
KNOWN = {o.key: o.name for o in load_schema().opds}


@pytest.mark.parametrize("typed,stored", [
    ("0812-3456-7890", "6281234567890"),
    ("+62 812 3456 7890", "6281234567890"),
    ("62 812.3456.7890", "6281234567890"),
    ("(0812) 3456 7890", "6281234567890"),
    ("812 3456 7890", "6281234567890"),
    ("+60 12-345 6789", "60123456789"),  # a foreign number, written with its +
])
def test_numbers_are_stored_as_the_cloud_api_takes_them(typed, stored):
    assert normalise_whatsapp(typed) == stored


@pytest.mark.parametrize("typed", ["12345", "0534-123456", "0812-3456-789O", "+62 21 555", "08123456789012345"])
def test_a_number_that_is_not_an_indonesian_mobile_is_refused(typed):
    with pytest.raises(InvalidContact) as e:
        normalise_whatsapp(typed)
    assert "nomor WhatsApp" in e.value.message


def test_broken_rows_are_reported_with_their_row_and_skipped():
    rows = [
        {"opd": "PUTR", "email": "kadis.putr@ketapangkab.go.id; sekdin@ketapangkab.go.id", "whatsapp": "0812-3456-7890",
         "head_name": "Ir. Budi", "head_title": "Kepala Dinas PUTR", "cc": "sekda@ketapangkab.go.id, 0813 1111 2222"},
        {"opd": "DLH", "email": "kadis.dlh@"},
        {"opd": "DINAS_X", "email": "x@ketapangkab.go.id"},
        {"opd": "", "email": ""},  # a blank row is not a problem
        {"opd": "PUTR", "email": "lain@ketapangkab.go.id"},
        {"opd": "dinkes", "whatsapp": "0812 3456 7890 (kantor)"},
        {"opd": "RSUD", "cc": "bukan-alamat"},
    ]
    d = parse_directory(rows, KNOWN)
    putr = d.get("PUTR")
    assert putr.emails == ("kadis.putr@ketapangkab.go.id", "sekdin@ketapangkab.go.id")
    assert putr.whatsapp == ("6281234567890",) and putr.cc_whatsapp == ("6281311112222",)
    assert putr.cc_emails == ("sekda@ketapangkab.go.id",) and putr.addressee == "Kepala Dinas PUTR (Ir. Budi)"
    assert set(d.contacts) == {"PUTR"}
    assert d.problems == (
        "tab Kontak OPD baris 3: alamat email 'kadis.dlh@' tidak valid; baris dilewati",
        "tab Kontak OPD baris 4: kode OPD 'DINAS_X' tidak dikenal; baris dilewati",
        "tab Kontak OPD baris 6: kode OPD PUTR sudah ada di baris lain; baris dilewati",
        "tab Kontak OPD baris 7: nomor WhatsApp '0812 3456 7890 (kantor)' berisi karakter yang bukan angka; baris dilewati",
        "tab Kontak OPD baris 8: tembusan 'bukan-alamat' bukan email atau nomor WhatsApp yang valid; baris dilewati",
    )


def test_opd_set_assignments_are_validated_and_normalised():
    row = apply_assignments({"opd": "PUTR"}, ["email=A@ketapangkab.go.id, a@ketapangkab.go.id",
                                              "wa=+62 812-3456-7890", "nama=Ir. Budi", "tembusan=x@y.go.id"])
    assert row["whatsapp"] == "6281234567890" and row["head_name"] == "Ir. Budi" and row["cc"] == "x@y.go.id"
    for bad, message in [("surel=x@y.go.id", "bukan FIELD=NILAI"), ("email=kadis@", "tidak valid"),
                         ("opd=DLH", "bukan FIELD=NILAI"), ("whatsapp", "bukan FIELD=NILAI")]:
        with pytest.raises(InvalidContact, match=message):
            apply_assignments({"opd": "PUTR"}, [bad])


def test_the_shipped_seed_reaches_nobody_and_names_every_opd():
    d = parse_directory(seed_rows(load_schema().opds), KNOWN)
    assert set(d.contacts) == set(KNOWN) and not d.problems
    assert not any(c.reachable for c in d.contacts.values())


def test_the_directory_is_read_through_a_cache_and_the_last_good_copy_survives_a_failure():
    now = [0.0]
    reads = []

    def read():
        reads.append(now[0])
        if len(reads) == 2:
            raise ConnectionError("sheets down")
        return [{"opd": "PUTR", "email": "kadis.putr@ketapangkab.go.id"}]

    source = DirectorySource(read, load_schema().opds, ttl_seconds=300, clock=lambda: now[0])
    assert source.get().get("PUTR").emails == ("kadis.putr@ketapangkab.go.id",)
    now[0] = 299
    source.get()
    assert reads == [0.0]
    now[0] = 301
    down = source.get()
    assert down.get("PUTR").emails == ("kadis.putr@ketapangkab.go.id",)
    assert "tidak terbaca (ConnectionError)" in down.problems[-1]


@pytest.mark.parametrize("name", sorted(HEAD_TEMPLATES))
def test_each_template_is_documented_verbatim_and_meets_metas_rules(name):
    """Meta refuses template bodies whose variables are not numbered 1..n in order or that start
    or end with a variable; docs/opd-directory.md is what KMC copies into WhatsApp Manager."""
    body, variables = HEAD_TEMPLATES[name]
    numbers = [int(n) for n in re.findall(r"\{\{(\d+)\}\}", body)]
    assert numbers == list(range(1, len(variables) + 1))
    assert not body.startswith("{{") and not body.rstrip(".").endswith("}}")
    assert len(body) <= 1024
    doc = (ROOT / "docs" / "opd-directory.md").read_text(encoding="utf-8")
    assert f"`{name}`\n\n> {body}\n" in doc
    assert f"`{name}`" in (ROOT / "README.md").read_text(encoding="utf-8")
