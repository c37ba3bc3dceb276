"""eval-routing / eval-sentiment: the figures KMC uses to trust the router and detector."""
import csv
import io
from pathlib import Path

import pytest

from functions.model import Route, Sentiment
from functions.routing import load_rules
from functions.services.evaluation import (
    EvalInputError, bench_routing, evaluate_routing, evaluate_sentiment, format_bench,
    format_routing_report, format_sentiment_report, main_eval_routing, main_eval_sentiment,
    read_labelled)


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_routing_metrics_from_known_predictions():
    # a fixed router: what it answers is known, so every figure can be checked by hand
    answers = {"a": "PUTR", "b": "PUTR", "c": "DLH", "d": "TRIASE", "e": "DLH"}
    rows = [("a", "PUTR"), ("b", "DLH"), ("c", "DLH"), ("d", "PDAM"), ("e", "DLH")]
    rep = evaluate_routing(rows, None, route_fn=lambda t, _: Route(answers[t], "x", 0.5))
    assert (rep.total, rep.routed, rep.correct_routed) == (5, 4, 3)
    assert rep.routed_accuracy == pytest.approx(0.75)
    assert rep.coverage == pytest.approx(0.8)
    p, r, n = rep.per_opd["DLH"]
    assert (p, r, n) == (pytest.approx(1.0), pytest.approx(2 / 3), 3)
    p, r, n = rep.per_opd["PUTR"]
    assert (p, r, n) == (pytest.approx(0.5), pytest.approx(1.0), 1)
    assert dict(rep.confusions) == {("DLH", "PUTR"): 1, ("PDAM", "TRIASE"): 1}
    text = format_routing_report(rep)
    assert "75.0 %" in text and "80.0 %" in text
    assert "DLH" in text and "-> PUTR" in text


def test_eval_routing_command_prints_report_and_writes_predictions(tmp_path):
    data = _write(tmp_path / "r.csv",
                  'text,opd\n"jalan rusak berlubang, mohon diaspal",PUTR\n'
                  '"sampah numpuk di pasar",DLH\nhalo,TRIASE\n"KTP belum jadi",PUTR\n')
    out_csv = tmp_path / "pred.csv"
    out = io.StringIO()
    assert main_eval_routing(data, out_csv, out=out) == 0
    report = out.getvalue()
    assert "accuracy on routed cases" in report and "coverage" in report
    assert "DISDUKCAPIL" in report  # the wrong label shows up as a confusion pair
    with open(out_csv, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["text", "opd", "predicted", "topic", "confidence"]
    assert [r["predicted"] for r in rows] == ["PUTR", "DLH", "TRIASE", "DISDUKCAPIL"]
    assert rows[0]["topic"] == "Jalan rusak"
    assert 0 < float(rows[0]["confidence"]) <= 1


def test_eval_routing_on_the_held_out_set_runs(capsys):
    assert main_eval_routing(Path(__file__).parents[1] / "data" / "routing-holdout.csv") == 0
    assert "115 complaints" in capsys.readouterr().out


@pytest.mark.parametrize(
    "content, message",
    [("", "empty"), ("text,wrong\nx,y\n", "text,opd")],
)
def test_eval_routing_rejects_unusable_files(tmp_path, capsys, content, message):
    assert main_eval_routing(_write(tmp_path / "bad.csv", content)) == 2
    assert message in capsys.readouterr().err


def test_eval_routing_missing_file(tmp_path, capsys):
    assert main_eval_routing(tmp_path / "nope.csv") == 2
    assert "cannot read" in capsys.readouterr().err


def test_reads_smsa_tsv_and_csv(tmp_path):
    tsv = _write(tmp_path / "s.tsv", "makanannya enak sekali !\tpositive\n"
                                     "pelayanan lambat , kecewa\tnegative\n")
    assert read_labelled(tsv, "sentiment") == [("makanannya enak sekali !", "positive"),
                                              ("pelayanan lambat , kecewa", "negative")]
    cs = _write(tmp_path / "s.csv", 'text,sentiment\n"jalan rusak, kecewa",Negatif\n')
    assert read_labelled(cs, "sentiment") == [("jalan rusak, kecewa", "Negatif")]


def test_sentiment_metrics_from_known_predictions():
    answers = {"a": Sentiment.NEGATIVE, "b": Sentiment.NEGATIVE, "c": Sentiment.NEUTRAL,
               "d": Sentiment.POSITIVE}
    rows = [("a", "negative"), ("b", "Netral"), ("c", "Negatif"), ("d", "positive")]
    rep = evaluate_sentiment(rows, classify_fn=lambda t: (answers[t], 0.5))
    assert rep.accuracy == pytest.approx(0.5)
    assert rep.precision() == pytest.approx(0.5)
    assert rep.recall() == pytest.approx(0.5)
    assert rep.f1() == pytest.approx(0.5)
    text = format_sentiment_report(rep)
    assert "Negatif F1" in text and "0.500" in text


def test_unknown_sentiment_label_is_reported(tmp_path, capsys):
    f = _write(tmp_path / "s.csv", "text,sentiment\nhalo,Marah\n")
    assert main_eval_sentiment(f) == 2
    assert "Marah" in capsys.readouterr().err


def test_eval_sentiment_command_writes_predictions(tmp_path):
    f = _write(tmp_path / "s.csv",
               'text,sentiment\n"Warga kecewa jalan rusak tak kunjung diperbaiki",Negatif\n'
               '"Terima kasih, pelayanan cepat dan ramah",Positif\n')
    pred = tmp_path / "p.csv"
    out = io.StringIO()
    assert main_eval_sentiment(f, pred, out=out) == 0
    assert "Negatif F1" in out.getvalue()
    with open(pred, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["text", "sentiment", "predicted", "score"]
    assert [r["predicted"] for r in rows] == ["Negatif", "Positif"]
    assert float(rows[0]["score"]) > float(rows[1]["score"])


def test_bench_reports_every_timing():
    b = bench_routing(repeat=12)
    for key in ("rules_load_ms", "sentiment_load_ms", "complaint_median_ms", "complaint_p95_ms",
                "complaint_max_ms", "complaint_first_ms"):
        assert b[key] > 0
    assert "routing table load" in format_bench(b)
    # the caches it cleared are usable again afterwards
    from functions.routing import route
    assert route("jalan rusak berlubang", load_rules()).opd == "PUTR"


def test_eval_input_error_is_a_value_error():
    assert issubclass(EvalInputError, ValueError)
