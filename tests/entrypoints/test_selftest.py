"""`python main.py selftest`: passes on a correctly configured workbook, and names each setup
mistake an operator makes on day one, in Indonesian, with what to fix (issue 15)."""
from __future__ import annotations

from datetime import datetime

import pytest

from functions.cli import main
from functions.config import Settings
from functions.selftest import SCRATCH_TITLES, run_selftest
from functions.services.setup import bootstrap_workbook
from functions.stores.google import layout
from tests.adapters.sheets_env import SERVICE_ACCOUNT, sheets_env
from tests.fakes.clock import WIB
from tests.fakes.fake_sheets import FakeSheets

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=WIB)
OPERATOR = "it.diskominfo@ketapangkab.go.id"


def settings_for(env, **extra) -> Settings:
    return Settings.from_env({"KMC_BACKEND": "google", "KMC_SPREADSHEET_ID": env.spreadsheet_id,
                              "KMC_CONTACTS_SPREADSHEET_ID": env.contacts_id,
                              "KMC_SERVICE_ACCOUNT": SERVICE_ACCOUNT, **extra})


def selftest(env, workbook=None, contacts=None):
    report = run_selftest(settings_for(env), env.schema, workbook or env.workbook(editors=[SERVICE_ACCOUNT]),
                          contacts or env.contacts(), NOW)
    text = "\n".join(report.lines())
    print(text)
    return report, text


def failed(report) -> dict[str, object]:
    return {c.name: c for c in report.checks if c.ok is False}


@pytest.fixture
def env():
    with sheets_env() as e:
        yield e


def deployed(env) -> None:
    """What the deploy guide produces: bootstrap (with the runtime named) of both spreadsheets."""
    bootstrap_workbook(env.workbook(editors=[SERVICE_ACCOUNT]), env.contacts())


def test_passes_on_a_correctly_configured_workbook_and_leaves_it_as_it_was(env):
    deployed(env)
    fake, sid = env.fake, env.spreadsheet_id
    before = {s.title: fake.values(sid, s.title) for s in fake.book(sid).sheets if s.title != "Log Sistem"}
    report, text = selftest(env)
    assert report.ok, text
    assert "SEMUA LULUS" in text and "GAGAL" not in text.replace("perbaiki yang GAGAL", "")
    names = [c.name for c in report.checks]
    for step in ("Menambah aduan", "Menulis kolom sistem yang diproteksi", "Meneruskan", "Menghapus baris",
                 "Tab uji dihapus lagi", "Spreadsheet kontak dapat ditulis"):
        assert any(n.startswith(step) for n in names), names
    after = {s.title: fake.values(sid, s.title) for s in fake.book(sid).sheets if s.title != "Log Sistem"}
    assert after == before  # scratch tabs gone, nothing else touched
    assert all("Uji" not in s.title for s in fake.book(env.contacts_id).sheets)
    assert all(t not in {s.title for s in fake.book(sid).sheets} for t in SCRATCH_TITLES)
    assert fake.formulas_written == []


def test_names_a_spreadsheet_not_shared_with_the_runtime_account(env):
    fake = env.fake
    private = fake.create("KMC Aduan (belum dibagikan)", writers={OPERATOR})
    env.spreadsheet_id = private
    report, text = selftest(env)
    assert not report.ok
    problem = failed(report)["Spreadsheet OPD dapat dibuka"]
    assert "belum dibagikan" in problem.detail and SERVICE_ACCOUNT in problem.detail and "403" in problem.detail
    assert "Bagikan" in problem.fix and "Editor" in problem.fix
    assert "Perbaiki:" in text


def test_names_protections_that_leave_out_the_runtime_account(env):
    operator = env.client(OPERATOR, service_account=False)
    meta = operator.get_metadata(env.spreadsheet_id, layout.METADATA_FIELDS)
    plan = layout.plan_bootstrap(env.schema, meta, {}, editors=[])  # the old deploy guide's step 5
    operator.spreadsheet_batch_update(env.spreadsheet_id, plan.requests, idempotent=False)
    env.contacts().bootstrap()
    report, text = selftest(env)
    assert not report.ok
    guard = failed(report)[f"Proteksi kolom sistem mengizinkan {SERVICE_ACCOUNT} menulis"]
    assert "tidak mencantumkan" in guard.detail and "KMC_SERVICE_ACCOUNT" in guard.fix
    assert "bootstrap" in guard.fix


def test_names_a_wrong_spreadsheet_id(env):
    deployed(env)
    env.spreadsheet_id = "1SalahKetikIdSpreadsheet"
    report, text = selftest(env)
    problem = failed(report)["Spreadsheet OPD dapat dibuka"]
    assert "KMC_SPREADSHEET_ID=1SalahKetikIdSpreadsheet" in problem.detail and "404" in problem.detail
    assert "docs.google.com/spreadsheets/d/ID" in problem.fix
    assert not report.ok


def test_names_a_missing_tab_and_a_missing_contact_tab(env):
    bootstrap_workbook(env.workbook(editors=[SERVICE_ACCOUNT]))  # the contact spreadsheet never bootstrapped
    book = env.fake.book(env.spreadsheet_id)
    book.sheets.remove(env.fake.sheet(env.spreadsheet_id, "Damkar"))
    report, text = selftest(env)
    problems = failed(report)
    assert "Damkar" in problems["Semua tab OPD, Triase, Luar Pemda dan Log ada"].detail
    assert "bootstrap" in problems["Semua tab OPD, Triase, Luar Pemda dan Log ada"].fix
    assert "bootstrap" in problems["Tab Kontak ada"].fix


def test_cli_selftest_over_the_emulator_exits_zero_then_non_zero_when_unshared(tmp_path, capsys):
    fake = FakeSheets(default_caller=SERVICE_ACCOUNT)
    sid, cid = fake.create("KMC Aduan"), fake.create("Kontak")
    with fake.serve() as host:
        env = {"KMC_BACKEND": "google", "KMC_SPREADSHEET_ID": sid, "KMC_CONTACTS_SPREADSHEET_ID": cid,
               "SHEETS_EMULATOR_HOST": host, "KMC_DATA_DIR": str(tmp_path), "KMC_SERVICE_ACCOUNT": SERVICE_ACCOUNT}
        assert main(["bootstrap"], env) == 0
        assert main(["selftest"], env) == 0
        assert "SEMUA LULUS" in capsys.readouterr().out
        fake.book(sid).writers = {OPERATOR}  # someone removed the runtime account from the workbook
        assert main(["selftest"], env) == 1
        out = capsys.readouterr().out
        assert "spreadsheet OPD belum dibagikan" in out and "Perbaiki:" in out


def test_names_a_contact_spreadsheet_shared_read_only(env):
    deployed(env)
    env.fake.book(env.contacts_id).writers, env.fake.book(env.contacts_id).readers = set(), {SERVICE_ACCOUNT}
    report, text = selftest(env)
    problem = failed(report)["Spreadsheet kontak dapat ditulis"]
    assert "spreadsheet kontak belum dibagikan" in problem.detail and "Editor" in problem.fix
    assert [c.name for c in report.checks if c.ok is False] == ["Spreadsheet kontak dapat ditulis"]


def test_cli_selftest_on_the_local_backend(tmp_path, capsys):
    env = {"KMC_DATA_DIR": str(tmp_path)}
    assert main(["selftest"], env) == 2  # no store there yet: refused (it never starts one), says what to do
    assert "python main.py bootstrap" in capsys.readouterr().err
    assert main(["bootstrap"], env) == 0
    assert main(["selftest"], env) == 0
    assert "SEMUA LULUS" in capsys.readouterr().out
    assert main(["sheet", "show", "--json"], env) == 0
    assert "UJI_MANDIRI" not in capsys.readouterr().out  # the scratch tabs are gone


def test_without_kmc_service_account_as_a_person_says_what_to_set(env):
    deployed(env)
    person = env.client(OPERATOR, service_account=False)
    report, text = selftest(env, workbook=env.workbook(person))
    problem = failed(report)["Tab uji dibuat"]
    assert "KMC_SERVICE_ACCOUNT" in problem.detail
    assert [c.name for c in report.checks if c.ok is None][:2] == ["Menambah aduan ke tab uji", "Membaca semua tab"]
    assert "dilewati" in text and not report.ok
