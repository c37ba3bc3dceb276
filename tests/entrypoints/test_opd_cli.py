"""`python main.py opd list` / `opd set`: a KMC admin fills in the OPD heads' directory locally."""
from __future__ import annotations

from functions.cli import main


def test_opd_set_then_list_shows_what_will_be_used(cli_env, capsys):
    assert main(["opd", "set", "PUTR", "email=kadis.putr@ketapangkab.go.id", "whatsapp=0812-3456-7890",
                 "nama=Ir. Budi Santoso", "jabatan=Kepala Dinas PUTR", "tembusan=sekdin@ketapangkab.go.id"],
                cli_env) == 0
    assert "PUTR diperbarui: email, whatsapp, nama, jabatan, tembusan" in capsys.readouterr().out
    assert main(["opd", "list"], cli_env) == 0
    out = capsys.readouterr().out
    assert "PUTR           Ir. Budi Santoso, Kepala Dinas PUTR" in out
    assert "email: kadis.putr@ketapangkab.go.id · WhatsApp: 6281234567890 · tembusan: sekdin@ketapangkab.go.id" in out
    assert "30 OPD; 1 dengan email atau WhatsApp kepala" in out


def test_opd_set_refuses_bad_values_in_indonesian_and_writes_nothing(cli_env, capsys):
    assert main(["opd", "set", "DLH", "email=kadis.dlh@ketapangkab.go.id"], cli_env) == 0
    capsys.readouterr()
    cases = [
        (["opd", "set", "DLH", "email=kadis.dlh@", "whatsapp=0812-3456-7890"], "alamat email 'kadis.dlh@' tidak valid"),
        (["opd", "set", "DLH", "whatsapp=0534-123456"], "nomor WhatsApp '0534-123456' tidak valid"),
        (["opd", "set", "DLH", "tembusan=pak kabid"], "tembusan 'pak kabid' bukan email atau nomor WhatsApp"),
        (["opd", "set", "DISHUBB", "email=a@b.go.id"], "kode OPD 'DISHUBB' tidak dikenal"),
        (["opd", "set", "DLH", "telepon=0812"], "'telepon=0812' bukan FIELD=NILAI yang dikenal"),
        (["opd", "set", "DLH"], "Gunakan: python main.py opd set KODE FIELD=NILAI"),
    ]
    for argv, message in cases:
        assert main(argv, cli_env) == 2
        err = capsys.readouterr().err
        assert message in err, err
    main(["opd", "list"], cli_env)
    assert "email: kadis.dlh@ketapangkab.go.id · WhatsApp: -" in capsys.readouterr().out  # unchanged


def test_in_production_the_tab_is_edited_in_the_spreadsheet(cli_env, capsys):
    env = {**cli_env, "KMC_BACKEND": "google", "KMC_SPREADSHEET_ID": "x", "KMC_CONTACTS_SPREADSHEET_ID": "y",
           "SHEETS_EMULATOR_HOST": "127.0.0.1:9"}
    assert main(["opd", "set", "PUTR", "email=a@b.go.id"], env) == 2
    assert "tab Kontak OPD" in capsys.readouterr().err
