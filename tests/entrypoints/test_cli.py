"""`python main.py COMMAND` as a person runs it: exit codes, messages, files."""
from __future__ import annotations

import email
import json
import subprocess
import sys
from email import policy
from pathlib import Path

import pytest

from functions.bootstrap import build
from functions.cli import COMMANDS
from functions.config import Settings
from functions.model import Channel, Complaint, Contact
from functions.services.intake import intake
from tests.fakes.clock import WIB

ROOT = Path(__file__).resolve().parents[2]


def run(env, *args, check_ok=True):
    result = subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    if check_ok:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def seeded(cli_env):
    """A data dir with two stored complaints, written through the real intake service."""
    from datetime import datetime

    svc = build(Settings.from_env(cli_env))
    svc.workbook.bootstrap()
    when = datetime(2026, 11, 2, 8, 0, tzinfo=WIB)
    a = intake(svc, Complaint("jalan rusak berlubang di Sandai", Channel.WHATSAPP, when,
                             Contact("Budi Santoso", "081328383222", "6281328383222"), source_id="wamid.a"))
    b = intake(svc, Complaint("=HYPERLINK(\"http://x\",\"klik\") sampah menumpuk", Channel.WEB_FORM, when,
                             Contact("Siti", "081200000000")))
    return cli_env, a.ticket_id, b.ticket_id


def test_bootstrap_creates_tabs_then_changes_nothing(cli_env):
    first = run(cli_env, "bootstrap").stdout
    assert "tab PUTR" in first and "tab Rute diisi" in first and "tab Kontak OPD diisi" in first
    assert "32 perubahan" in first  # one more than before issue 19: the Kontak OPD rows are seeded
    assert "0 perubahan" in run(cli_env, "bootstrap").stdout


def test_sheet_show_json_uses_the_contract_keys(seeded):
    env, a, b = seeded
    data = json.loads(run(env, "sheet", "show", "--json").stdout)
    assert set(data["tabs"]) >= {"PUTR", "DLH", "TRIASE", "LUAR_PEMDA"}
    (row,) = [r for r in data["tabs"]["PUTR"] if r["ticket_id"] == a]
    for key in ("ticket_id", "received_at", "channel", "reporter", "contact", "text", "location", "link", "category",
                "sentiment", "status", "response", "responder", "forward_to", "deadline", "responded_at", "sla",
                "reply_sent_at"):
        assert key in row
    assert row["received_at"] == "2026-11-02T08:00:00+07:00" and row["contact"] == "0813****3222"
    assert "081328383222" not in json.dumps(data) and "Budi Santoso" not in json.dumps(data)


def test_sheet_show_one_tab_and_unknown_tab(seeded):
    env, a, _ = seeded
    assert a in run(env, "sheet", "show", "PUTR").stdout
    bad = run(env, "sheet", "show", "NOPE", check_ok=False)
    assert bad.returncode == 2 and "tidak ada" in bad.stderr


def test_edit_writes_staff_cells(seeded):
    env, a, _ = seeded
    typed = a.lower().replace("-", "")
    assert "diperbarui" in run(env, "edit", typed, "status=Diproses", "response=Sedang kami tinjau").stdout
    row = json.loads(run(env, "sheet", "show", "PUTR", "--json").stdout)["tabs"]["PUTR"][0]
    assert (row["status"], row["response"]) == ("Diproses", "Sedang kami tinjau")


@pytest.mark.parametrize("args,message", [
    (["sla=Tepat Waktu"], "diisi oleh sistem"),
    (["ticket_id=X"], "diisi oleh sistem"),
    (["warna=merah"], "tidak dikenal"),
    (["status"], "Format salah"),
])
def test_edit_refuses_what_staff_may_not_do_and_writes_nothing(seeded, args, message):
    env, a, _ = seeded
    before = run(env, "sheet", "show", "--json").stdout
    result = run(env, "edit", a, *args, check_ok=False)
    assert result.returncode == 2 and message in result.stderr
    assert run(env, "sheet", "show", "--json").stdout == before


def test_edit_unknown_ticket(seeded):
    env, _, _ = seeded
    result = run(env, "edit", "KMC-200101-ZZZZZ", "status=Selesai", check_ok=False)
    assert result.returncode == 2 and "tidak ditemukan" in result.stderr


def test_export_xlsx_never_writes_a_formula(seeded, tmp_path):
    from openpyxl import load_workbook

    env, a, b = seeded
    out = tmp_path / "kmc.xlsx"
    assert "2 baris" in run(env, "export", "--xlsx", str(out)).stdout
    book = load_workbook(out)
    cells = [c for ws in book.worksheets for r in ws.iter_rows() for c in r if isinstance(c.value, str)]
    assert not [c for c in cells if c.data_type == "f"]
    # the text as typed, marked as text: no visible apostrophe (issue 16, item 23)
    (cell,) = [c for c in cells if c.value.startswith("=HYPERLINK")]
    assert cell.data_type == "s" and cell.quotePrefix
    assert not any(c.value.startswith("'") for c in cells)
    assert book["PUTR"]["A1"].value == "No. Tiket" and book["PUTR"]["A2"].value == a


def test_daily_with_fixed_clock_sends_the_digest_once(seeded):
    env, a, _ = seeded
    out = run(env, "daily", "--now", "2026-11-05T07:00").stdout
    assert "2 aduan ditandai Terlambat" in out
    assert "sudah dikirim" in run(env, "daily", "--now", "2026-11-05T07:00").stdout
    emls = list((Path(env["KMC_DATA_DIR"]) / "outbox").glob("*.eml"))
    assert len(emls) == 1
    msg = email.message_from_bytes(emls[0].read_bytes(), policy=policy.default)
    assert a in msg.get_body(("plain",)).get_content()


def test_sweep_dry_run_and_bad_now(seeded):
    env, _, _ = seeded
    assert "sweep:" in run(env, "sweep", "--dry-run", "--now", "2026-11-03T10:00+07:00").stdout
    bad = run(env, "sweep", "--now", "kemarin", check_ok=False)
    assert bad.returncode == 2 and "ISO 8601" in bad.stderr


def test_unknown_backend_is_a_clear_error(cli_env):
    result = run({**cli_env, "KMC_BACKEND": "excel"}, "bootstrap", check_ok=False)
    assert result.returncode == 2 and "KMC_BACKEND" in result.stderr


def test_unwritable_data_dir_is_a_clear_error(cli_env, tmp_path):
    (tmp_path / "blocker").write_text("x")
    result = run({**cli_env, "KMC_DATA_DIR": str(tmp_path / "blocker" / "data")}, "bootstrap", check_ok=False)
    assert result.returncode == 3 and "tidak dapat ditulisi" in result.stderr


def test_forget_erases_personal_data(seeded):
    env, a, _ = seeded
    assert a in run(env, "forget", "+62 813-2838-3222").stdout
    row = json.loads(run(env, "sheet", "show", "PUTR", "--json").stdout)["tabs"]["PUTR"][0]
    assert row["reporter"] == "Anonim" and row["contact"] == ""
    assert run(env, "forget", "089999999999", check_ok=False).returncode == 1


def test_demo_runs_the_whole_cycle_and_leaves_a_digest_naming_overdue_cases(cli_env, tmp_path):
    target = tmp_path / "demo"
    out = run(cli_env, "demo", "--data-dir", str(target)).stdout
    assert "Selesai" in out
    overdue = [line.split()[1] for line in out.splitlines() if line.strip().startswith("TERLAMBAT")]
    assert overdue
    (eml,) = (target / "outbox").glob("*digest*.eml")
    msg = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    body = msg.get_body(("plain",)).get_content()
    assert all(ticket in body for ticket in overdue)
    assert (target / "kmc-aduan.xlsx").exists()


def test_every_cli_command_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [c for c in COMMANDS if f"`{c}" not in readme]
    assert not missing, f"README does not document: {missing}"
