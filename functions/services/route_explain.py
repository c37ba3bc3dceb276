"""`explain-route "TEXT"`: why a text goes where it goes, in Indonesian for a KMC admin who may
fix a Rute row: the rules that matched (with their keywords and exclusions), the learned model's
score per OPD and the words behind it, the thresholds, and the final decision."""
from __future__ import annotations

import math

from ..model import TRIAGE
from ..routing import RoutingRules, document, load_rules, rules_from_rows
from ..routing_model import (LearnedModel, Thresholds, decide_explained, load_thresholds,
                             read_stored)
from ..stores.port import Workbook
from ..textnorm import load_lexicon

MAX_TOPICS = 6
MAX_OPDS = 5


def current_rules(workbook: Workbook) -> tuple[RoutingRules, list[str]]:
    """The Rute tab as intake uses it (the shipped rules when the tab is empty or absent)."""
    rows = workbook.read_rules()
    if not rows:
        return load_rules(), ["tab Rute kosong/tidak ada: memakai aturan bawaan (routing.toml)"]
    rules, problems = rules_from_rows(rows)
    if not rules.rules:
        return load_rules(), problems + ["tab Rute tanpa aturan sah: memakai aturan bawaan"]
    return rules, problems


def stored_model(workbook: Workbook, known_opds: frozenset[str] | None = None) -> tuple[LearnedModel | None, str]:
    return read_stored(workbook.read_routing_model, known_opds)


def explain_route(workbook: Workbook, text: str, thr: Thresholds | None = None) -> str:
    rules, problems = current_rules(workbook)
    model, status = stored_model(workbook)
    return format_explanation(text, rules, model, status, thr or load_thresholds(), problems)


def format_explanation(text: str, rules: RoutingRules, model: LearnedModel | None, status: str,
                       thr: Thresholds, problems: list[str] = ()) -> str:
    d = decide_explained(text, rules, model, thr)
    doc = document(text, rules.lexicon or load_lexicon())
    window = rules.settings.window
    out = [f"Teks setelah dinormalisasi: {' '.join(doc.toks) or '(kosong)'}", ""]
    out.append("1. Aturan tab Rute yang cocok (skor = jumlah bobot kata kunci):")
    matched = 0
    for rule in rules.rules:
        score, hits = doc.score(rule.keywords, window)
        if not hits:
            continue
        blocked = [k.source for k in rule.exclude if doc.match(k, window)]
        if matched < MAX_TOPICS or blocked:
            words = ", ".join(k.source for k, _ in hits)
            line = f"   - {rule.opd} · {rule.topic}: skor {score:g} (kata kunci: {words})"
            if blocked:
                line += f" — TIDAK DIHITUNG, kena pengecualian: {', '.join(blocked)}"
            out.append(line)
        matched += 1
    if not matched:
        out.append("   (tidak ada kata kunci yang cocok)")
    r = d.rule_route
    out.append(f"   Hasil aturan: {r.opd} — {r.topic}; keyakinan {r.confidence:.2f} "
               f"(aturan menentukan sendiri bila keyakinan >= {thr.rule_authority:.2f}; skor minimal "
               f"{rules.settings.min_score:g}, selisih minimal {rules.settings.min_margin:.0%} dari pesaing)")
    out += ["", "2. Model yang dipelajari dari riwayat KMC:"]
    if model is None:
        out.append(f"   {status}")
    else:
        info = model.info
        if info.get("examples"):
            out.append(f"   dilatih {str(info.get('trained_at', ''))[:10] or '-'} dari {info['examples']} aduan "
                       f"selesai/diteruskan; uji pada aduan terbaru: tepat {info.get('holdout_accuracy', 0):.0%}, "
                       f"cakupan {info.get('holdout_coverage', 0):.0%}")
        for opd, p in d.model_scores[:MAX_OPDS]:
            why = ", ".join(_feature_label(f) for f, _ in model.contributions(d.features, opd)[:4])
            out.append(f"   - {opd:<15} {p:6.1%}" + (f"  (karena: {why})" if why else ""))
        out.append(f"   Model menentukan bila peluang OPD teratas >= {thr.model_min_probability:.0%}.")
    out += ["", f"3. Keputusan: {d.route.opd} — {d.route.topic}", f"   ditentukan oleh: {_by(d.by)}"]
    if d.route.opd == TRIAGE:
        out.append("   Aduan ini masuk TRIASE: admin KMC memilih OPD dengan mengisi 'Teruskan ke'.")
    final = final_weight(rules, thr)
    out += ["", "Memperbaiki: tambah kata kunci di baris Rute OPD yang benar, atau pengecualian di kolom "
            "'Kecuali' baris yang salah; aturan dibaca ulang dalam 5 menit. Aturan menentukan sendiri (model "
            f"tidak menimpanya) bila bobot yang cocok berjumlah minimal {final:g} tanpa OPD pesaing, "
            f"mis. 'pangkas & pohon:{final:g}'; bobot lebih kecil hanya ikut menimbang. "
            "Setiap 'Teruskan ke' juga mengajari model pada pelatihan harian berikutnya."]
    if problems:
        out += ["", "Catatan tab Rute:"] + [f"   ! {p}" for p in problems[:10]]
    return "\n".join(out)


def final_weight(rules: RoutingRules, thr: Thresholds) -> float:
    """The smallest whole keyword weight that, alone and unopposed, makes a rule route final:
    confidence 1 - exp(-w / min_score) reaches `rule_authority` (4 with the shipped settings)."""
    if thr.rule_authority >= 1:
        return math.inf
    return float(math.ceil(-rules.settings.min_score * math.log(1 - thr.rule_authority)))


def _by(by: str) -> str:
    return {
        "aturan": "aturan tab Rute (cukup yakin, atau belum ada model)",
        "model": "model riwayat KMC (aturan tidak cukup yakin)",
        "aturan+model": "aturan, dikuatkan model (keduanya menunjuk OPD yang sama)",
        "triase": "tidak ada yang cukup yakin",
    }.get(by, by)


def _feature_label(feature: str) -> str:
    kind, _, value = feature.partition(":")
    if kind == "w":
        return f"'{value}'"
    if kind == "b":
        return f"'{value.replace('_', ' ')}'"
    return f"aturan menunjuk {value}"
