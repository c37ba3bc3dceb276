"""`eval-routing --history` and `explain-route` as a KMC admin runs them (issue 18)."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

from functions.bootstrap import build
from functions.config import Settings
from functions.routing import load_rules
from functions.routing_model import dumps, load_thresholds
from functions.services.route_learning import Example, train
from scripts.make_routing_devset import generate

ROOT = Path(__file__).resolve().parents[2]
WATER = "sumur bor pamsimas di desa Sandai rusak, warga krisis air bersih"  # this regency: PUTR's works


def run(env, *args):
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


def write_csv(path: Path, rows) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "opd"])
        w.writerows(rows)
    return path


def test_eval_routing_learns_from_history_before_routing_the_test_set(cli_env, tmp_path):
    history = write_csv(tmp_path / "history.csv", [(t, o) for t, o, _ in generate(5, 4, 150)])
    test = write_csv(tmp_path / "test.csv", [(WATER, "PUTR"), ("sampah menumpuk di TPS tidak diangkut", "DLH")])
    alone = run(cli_env, "eval-routing", str(test), "--predictions", str(tmp_path / "alone.csv"))
    learned = run(cli_env, "eval-routing", str(test), "--history", str(history),
                  "--predictions", str(tmp_path / "learned.csv"))
    assert alone.returncode == learned.returncode == 0, learned.stderr
    assert "learned from" in learned.stdout and "history cases in history.csv" in learned.stdout
    assert "coverage (not TRIASE)" in learned.stdout and "confusion pairs" in learned.stdout

    def predicted(name):
        with open(tmp_path / name, encoding="utf-8") as fh:
            return {r["text"]: r["predicted"] for r in csv.DictReader(fh)}

    assert predicted("alone.csv")[WATER] != "PUTR"  # the shipped rules do not know this division of work
    assert predicted("learned.csv")[WATER] == "PUTR"
    assert predicted("learned.csv")["sampah menumpuk di TPS tidak diangkut"] == "DLH"


def test_eval_routing_with_a_short_history_says_it_uses_the_rules_alone(cli_env, tmp_path):
    history = write_csv(tmp_path / "history.csv", [("jalan rusak", "PUTR"), ("sampah", "DLH")])
    test = write_csv(tmp_path / "test.csv", [("jalan rusak berlubang", "PUTR")])
    result = run(cli_env, "eval-routing", str(test), "--history", str(history))
    assert result.returncode == 0
    assert "too few for a model" in result.stdout and "rules alone" in result.stdout


def test_eval_routing_with_a_missing_history_file_is_a_clear_error(cli_env, tmp_path):
    test = write_csv(tmp_path / "test.csv", [("jalan rusak", "PUTR")])
    result = run(cli_env, "eval-routing", str(test), "--history", str(tmp_path / "tidak-ada.csv"))
    assert result.returncode == 2
    assert "Berkas tidak ditemukan" in result.stderr


def test_explain_route_without_a_model_shows_the_rules_and_the_decision(cli_env):
    result = run(cli_env, "explain-route", "got depan rumah tersumbat, air tergenang tiap hujan")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Aturan tab Rute yang cocok" in out
    assert "PUTR · Drainase / parit" in out
    assert "BPBD · Banjir" not in out or "TIDAK DIHITUNG" in out
    assert "belum ada model rute tersimpan" in out
    assert "Keputusan: PUTR" in out


def test_explain_route_with_a_model_shows_scores_threshold_and_what_decided(cli_env):
    svc = build(Settings.from_env(cli_env))
    svc.workbook.bootstrap()
    examples = [Example(t, o) for t, o, _ in generate(5, 4, 150)]
    model = train(examples, load_rules(), load_thresholds(), {"examples": len(examples), "trained_at": "2026-12-01"})
    svc.workbook.write_routing_model(dumps(model))

    result = run(cli_env, "explain-route", WATER)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"dari {len(examples)} aduan" in out
    assert "Model menentukan bila peluang OPD teratas >= 60%" in out
    assert "- PUTR" in out and "karena:" in out
    assert "Keputusan: PUTR" in out
    assert "ditentukan oleh: model riwayat KMC" in out
    assert "bobot yang cocok berjumlah minimal 4 tanpa OPD pesaing" in out
