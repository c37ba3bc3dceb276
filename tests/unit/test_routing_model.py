"""The learned routing model at intake: how it combines with the rules, how it is read (issue 18).
Models here are written by hand, so each expectation follows from the weights in the test."""
from __future__ import annotations

import shutil

import pytest

from functions.routing import load_rules, route
from functions.routing_model import (LearnedModel, ModelSource, Thresholds, decide, decide_explained, dumps,
                                     load_thresholds, loads)
from functions.schema import SCHEMA_DIR

RULES = load_rules()
THR = Thresholds(rule_authority=0.85, model_min_probability=0.6)


def model_for(word: str, opd: str, weight: float = 6.0, classes=("DLH", "PUTR", "BPBD")) -> LearnedModel:
    """A model that puts `opd` far ahead whenever `word` occurs, and is unsure otherwise."""
    return LearnedModel(tuple(classes), (0.0,) * len(classes), {f"w:{word}": [classes.index(opd), weight]})


def test_without_a_model_routing_is_the_rules_alone():
    for text in ["jalan rusak berlubang", "sampah menumpuk", "halo min", "got tersumbat air tergenang"]:
        assert decide(text, RULES, None, THR) == route(text, RULES)


def test_a_confident_rule_is_never_overridden_by_the_model():
    text = "sampah menumpuk di tps tidak diangkut, bau sekali"
    ruled = route(text, RULES)
    assert ruled.opd == "DLH" and ruled.confidence >= THR.rule_authority
    d = decide_explained(text, RULES, model_for("sampah", "PUTR", 20.0), THR)
    assert d.model_scores[0][0] == "PUTR"  # the model disagrees strongly ...
    assert d.route == ruled and d.by == "aturan"  # ... and the rule decides


def test_the_model_decides_where_the_rules_are_not_confident():
    text = "rumput ilalang tinggi di bahu jalan rusak"
    ruled = route(text, RULES)
    assert ruled.opd == "PUTR" and ruled.confidence < THR.rule_authority
    r = decide(text, RULES, model_for("ilalang", "DLH"), THR)
    assert r.opd == "DLH" and r.confidence >= THR.model_min_probability


def test_an_unsure_model_sends_to_triase_unless_it_agrees_with_the_rules():
    weak = model_for("ilalang", "DLH", weight=0.5)  # about 45 % for DLH: below the 60 % threshold
    assert decide("ilalang di bahu jalan rusak", RULES, weak, THR).opd == "TRIASE"
    agrees = model_for("jalan", "PUTR", weight=0.5)
    assert decide("ilalang di bahu jalan rusak", RULES, agrees, THR).opd == "PUTR"


def test_thresholds_are_data_in_routing_toml(tmp_path):
    shutil.copytree(SCHEMA_DIR, tmp_path / "schema")
    toml = tmp_path / "schema" / "routing.toml"
    toml.write_text(toml.read_text().replace("model_min_probability = 0.6", "model_min_probability = 0.99"))
    strict = load_thresholds(tmp_path / "schema")
    assert strict.model_min_probability == 0.99
    text = "rumput ilalang tinggi di bahu jalan rusak"
    assert decide(text, RULES, model_for("ilalang", "DLH", weight=3.0), THR).opd == "DLH"
    assert decide(text, RULES, model_for("ilalang", "DLH", weight=3.0), strict).opd == "TRIASE"


@pytest.mark.parametrize("text, reason", [
    ("", "bukan JSON"),
    ('{"format":"kmc-routing-model/1","classes":["DLH"],"bias":[0.1', "bukan JSON"),
    ('{"format":"lain"}', "format"),
    ('{"format":"kmc-routing-model/1","classes":[],"bias":[],"weights":{}}', "daftar OPD"),
    ('{"format":"kmc-routing-model/1","classes":["DLH","PUTR"],"bias":[0.1],"weights":{}}', "bias"),
    ('{"format":"kmc-routing-model/1","classes":["DLH","PUTR"],"bias":[0,0],"weights":{"w:x":[5,1.0]}}', "w:x"),
    ('{"format":"kmc-routing-model/1","classes":["DLH","PUTR"],"bias":[0,0],"weights":{"w:x":[0]}}', "w:x"),
    ('{"format":"kmc-routing-model/1","classes":["DLH","ANTAH"],"bias":[0,0],"weights":{}}', "tidak dikenal"),
])
def test_a_damaged_model_is_refused_with_a_reason(text, reason):
    with pytest.raises(ValueError, match=reason):
        loads(text, frozenset({"DLH", "PUTR"}))


def test_a_stored_model_reads_back_identically():
    m = model_for("ilalang", "DLH")
    back = loads(dumps(m))
    assert (back.classes, back.bias, back.weights) == (m.classes, m.bias, m.weights)


class Store:
    def __init__(self, text):
        self.text, self.reads, self.fail = text, 0, False

    def read(self):
        self.reads += 1
        if self.fail:
            raise OSError("sheets down")
        return self.text


def test_model_source_reads_once_per_ttl_and_keeps_the_last_model_when_the_store_fails():
    now = [0.0]
    store = Store(dumps(model_for("ilalang", "DLH")))
    source = ModelSource(store.read, ttl_seconds=3600, clock=lambda: now[0], report=lambda m: None)
    first = source.get()
    assert first is not None and source.get() is first and store.reads == 1
    now[0] = 4000
    store.fail = True
    assert source.get() is first and "tidak terbaca" in source.status


def test_model_source_ignores_a_corrupt_or_missing_model_and_says_why():
    reported = []
    source = ModelSource(Store("{rusak").read, report=reported.append)
    assert source.get() is None and "rusak" in source.status and reported
    missing = ModelSource(Store(None).read, report=reported.append)
    assert missing.get() is None and "belum ada model" in missing.status


def test_a_store_that_finds_its_copy_damaged_means_a_corrupt_model():
    def damaged():
        raise ValueError("isi tab Model Rute tidak cocok dengan checksum")

    source = ModelSource(damaged, report=lambda m: None)
    assert source.get() is None and "rusak" in source.status and "checksum" in source.status


def test_the_weight_explain_route_names_really_makes_a_rule_final():
    """explain-route tells admins which weight makes a Rute row final; a row with that weight
    must beat a model that disagrees, and one point less must not."""
    from functions.routing import rules_from_rows
    from functions.services.route_explain import final_weight

    weight = final_weight(RULES, THR)
    for w, final in ((weight, True), (weight - 1, False)):
        rules, _ = rules_from_rows([{"opd": "DISKOMINFO", "topic": "Perangkat zxqv", "keywords": f"zxqv:{w:g}",
                                     "exclude": ""}])
        d = decide_explained("zxqv", rules, model_for("zxqv", "DLH", classes=("DLH", "DISKOMINFO")), THR)
        assert (d.route.opd == "DISKOMINFO") == final


def test_phone_and_nik_numbers_never_become_model_features():
    """The model is stored in the workbook OPD staff can open: identifying numbers stay out (UU 27/2022)."""
    from functions.routing_model import text_features

    feats = text_features("bansos tidak cair, NIK 6104012345678901 hp 081234567890 rt 05", RULES)
    assert not [f for f in feats if any(n in f for n in ("6104012345678901", "081234567890"))]
    assert "w:bansos" in feats and "w:05" in feats  # ordinary words and short numbers stay
