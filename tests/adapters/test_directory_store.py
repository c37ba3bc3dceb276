"""The Kontak OPD directory on both stores: seeded once by bootstrap, admins' edits never
overwritten, an OPD added to opds.toml later gets its row, a second bootstrap changes nothing."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace

import pytest

from functions.directory import parse_directory
from functions.schema import Opd, load_schema
from functions.services.setup import bootstrap_workbook
from functions.stores.local import LocalWorkbook
from tests.adapters.sheets_env import sheets_env

NEW = Opd("DISARPUS", "Disarpus", "Dinas Perpustakaan dan Kearsipan", "Perpustakaan", "opd")


@contextmanager
def local_store(tmp_path):
    yield lambda schema: LocalWorkbook(tmp_path / "workbook.sqlite", schema), None


@contextmanager
def google_store(tmp_path):
    with sheets_env() as env:
        def open_(schema):
            return env.workbook() if schema is env.schema else type(env.workbook())(
                env.client(), env.spreadsheet_id, schema, clock=env.time.clock, sleep=env.time.sleep)
        yield open_, env


def admin_edit(env, wb, opd: str, email: str) -> None:
    """What a KMC admin does by hand: set the head's email of one OPD."""
    if env is None:
        wb.write_directory_row({**next(r for r in wb.read_directory() if r["opd"] == opd), "email": email})
        return
    row = [r["opd"] for r in wb.read_directory()].index(opd) + 2
    env.fake.staff_set(env.spreadsheet_id, "Kontak OPD", f"E{row}", email, respect_protection=False)


@pytest.mark.parametrize("store", [local_store, google_store], ids=["local", "google"])
def test_bootstrap_seeds_the_directory_once_and_adds_new_opds_without_touching_edits(tmp_path, store):
    schema = load_schema()
    with store(tmp_path) as (open_, env):
        schema = env.schema if env is not None else schema
        wb = open_(schema)
        assert any(a.startswith("tab Kontak OPD diisi 30 OPD") for a in bootstrap_workbook(wb))
        admin_edit(env, wb, "PUTR", "kadis.putr@ketapangkab.go.id")
        assert not any("Kontak OPD" in a for a in bootstrap_workbook(wb))  # nothing overwritten
        grown = replace(schema, opds=schema.opds + (NEW,))
        wb2 = open_(grown)
        assert "tab Kontak OPD: 1 OPD baru ditambahkan; isi kontak kepalanya" in bootstrap_workbook(wb2)
        rows = wb2.read_directory()
        assert [r["opd"] for r in rows][-1] == "DISARPUS" and len(rows) == 31
        d = parse_directory(rows, {o.key: o.name for o in grown.opds})
        assert d.get("PUTR").emails == ("kadis.putr@ketapangkab.go.id",) and not d.problems
        assert not any("Kontak OPD" in a for a in bootstrap_workbook(wb2))
