"""Measure the router and the negativity detector on labelled data (`eval-routing`,
`eval-sentiment`), and time them (`bench_routing`, printed by scripts/bench.py).

Readers accept CSV with a header (`text,opd` / `text,sentiment`) and the IndoNLU SmSA TSV
(`text<TAB>positive|neutral|negative`, no header).
"""
from __future__ import annotations

import csv
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, TextIO

from functions.model import TRIAGE, Route, Sentiment

# Targets of issue 6 (printed next to the figures; tests never assert them).
TARGET_ROUTED_ACCURACY = 0.90
TARGET_COVERAGE = 0.80
TARGET_NEGATIVE_F1 = 0.80
TARGET_COMPLAINT_MS = 5.0
TARGET_LOAD_MS = 100.0

_SENTIMENT_LABELS = {
    "negatif": Sentiment.NEGATIVE, "negative": Sentiment.NEGATIVE, "neg": Sentiment.NEGATIVE,
    "netral": Sentiment.NEUTRAL, "neutral": Sentiment.NEUTRAL, "net": Sentiment.NEUTRAL,
    "positif": Sentiment.POSITIVE, "positive": Sentiment.POSITIVE, "pos": Sentiment.POSITIVE,
}


class EvalInputError(ValueError):
    """The labelled file cannot be read; the message says why."""


# --- reading ------------------------------------------------------------------------------


def read_labelled(path: Path | str, label_column: str) -> list[tuple[str, str]]:
    """(text, label) pairs from a CSV with `text` and `label_column`, or a headerless
    `text<TAB>label` TSV (SmSA)."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise EvalInputError(f"cannot read {path}: {e}") from e
    lines = raw.splitlines()
    if not lines:
        raise EvalInputError(f"{path} is empty")
    first = lines[0]
    if "\t" in first and not first.lower().startswith("text,"):
        pairs = []
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            text, sep, label = line.rpartition("\t")
            if not sep:
                raise EvalInputError(f"{path}:{n}: expected text<TAB>label")
            pairs.append((text.strip(), label.strip()))
        return pairs
    reader = csv.DictReader(raw.splitlines())
    fields = [f.strip().lower() for f in reader.fieldnames or ()]
    if "text" not in fields or label_column not in fields:
        raise EvalInputError(f"{path}: needs columns text,{label_column} (found {','.join(fields)})")
    reader.fieldnames = fields
    return [
        ((row.get("text") or "").strip(), (row.get(label_column) or "").strip())
        for row in reader
        if (row.get("text") or "").strip()
    ]


def sentiment_label(raw: str) -> Sentiment:
    try:
        return _SENTIMENT_LABELS[raw.strip().lower()]
    except KeyError:
        raise EvalInputError(f"unknown sentiment label '{raw}'") from None


# --- routing ------------------------------------------------------------------------------


@dataclass
class RoutingReport:
    total: int
    routed: int  # predicted something other than TRIASE
    correct_routed: int
    correct: int
    per_opd: dict[str, tuple[float, float, int]]  # opd -> (precision, recall, gold support)
    confusions: list[tuple[tuple[str, str], int]]  # ((gold, predicted), count), most common first
    predictions: list[tuple[str, str, Route]] = field(default_factory=list)  # (text, gold, route)

    @property
    def routed_accuracy(self) -> float:
        return self.correct_routed / self.routed if self.routed else 0.0

    @property
    def coverage(self) -> float:
        return self.routed / self.total if self.total else 0.0

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


def evaluate_routing(rows: Iterable[tuple[str, str]], rules, route_fn: Callable | None = None
                     ) -> RoutingReport:
    """Route each (text, gold OPD) and compare."""
    if route_fn is None:
        from functions.routing import route as route_fn
    preds: list[tuple[str, str, Route]] = []
    for text, gold in rows:
        preds.append((text, gold.strip().upper(), route_fn(text, rules)))
    total = len(preds)
    routed = [p for p in preds if p[2].opd != TRIAGE]
    correct_routed = sum(1 for _, g, r in routed if r.opd == g)
    correct = sum(1 for _, g, r in preds if r.opd == g)
    labels = sorted({g for _, g, _ in preds} | {r.opd for _, _, r in preds})
    per_opd: dict[str, tuple[float, float, int]] = {}
    for opd in labels:
        tp = sum(1 for _, g, r in preds if g == opd and r.opd == opd)
        pred_n = sum(1 for _, _, r in preds if r.opd == opd)
        gold_n = sum(1 for _, g, _ in preds if g == opd)
        per_opd[opd] = (tp / pred_n if pred_n else 0.0, tp / gold_n if gold_n else 0.0, gold_n)
    confusions = Counter((g, r.opd) for _, g, r in preds if g != r.opd).most_common()
    return RoutingReport(total, len(routed), correct_routed, correct, per_opd, confusions, preds)


def _pct(x: float) -> str:
    return f"{100 * x:5.1f} %"


def format_routing_report(rep: RoutingReport, title: str = "") -> str:
    ok = lambda good: "OK" if good else "BELOW TARGET"  # noqa: E731
    lines = [f"Routing evaluation{': ' + title if title else ''} ({rep.total} complaints)", ""]
    lines.append(f"  accuracy on routed cases  {_pct(rep.routed_accuracy)}  "
                 f"({rep.correct_routed}/{rep.routed})   target >= {TARGET_ROUTED_ACCURACY:.0%}  "
                 f"{ok(rep.routed_accuracy >= TARGET_ROUTED_ACCURACY)}")
    lines.append(f"  coverage (not TRIASE)     {_pct(rep.coverage)}  "
                 f"({rep.routed}/{rep.total})   target >= {TARGET_COVERAGE:.0%}  "
                 f"{ok(rep.coverage >= TARGET_COVERAGE)}")
    lines.append(f"  overall accuracy          {_pct(rep.accuracy)}  ({rep.correct}/{rep.total}, "
                 "TRIASE counts as right only where TRIASE is the label)")
    lines += ["", f"  {'OPD':<16}{'precision':>10}{'recall':>9}{'n':>5}"]
    for opd, (p, r, n) in sorted(rep.per_opd.items()):
        lines.append(f"  {opd:<16}{_pct(p):>10}{_pct(r):>9}{n:>5}")
    lines += ["", "  confusion pairs (label -> predicted):"]
    if not rep.confusions:
        lines.append("    none")
    for (g, p), n in rep.confusions:
        lines.append(f"    {g:<16}-> {p:<16}{n:>3}")
    return "\n".join(lines)


def write_routing_predictions(rep: RoutingReport, out: Path | str) -> None:
    with open(out, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "opd", "predicted", "topic", "confidence"])
        for text, gold, r in rep.predictions:
            w.writerow([text, gold, r.opd, r.topic, f"{r.confidence:.3f}"])


# --- sentiment ----------------------------------------------------------------------------


@dataclass
class SentimentReport:
    total: int
    correct: int
    confusion: dict[tuple[Sentiment, Sentiment], int]  # (gold, predicted) -> count
    predictions: list[tuple[str, Sentiment, Sentiment, float]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def _counts(self, label: Sentiment) -> tuple[int, int, int]:
        tp = self.confusion.get((label, label), 0)
        pred = sum(n for (g, p), n in self.confusion.items() if p == label)
        gold = sum(n for (g, p), n in self.confusion.items() if g == label)
        return tp, pred, gold

    def precision(self, label: Sentiment = Sentiment.NEGATIVE) -> float:
        tp, pred, _ = self._counts(label)
        return tp / pred if pred else 0.0

    def recall(self, label: Sentiment = Sentiment.NEGATIVE) -> float:
        tp, _, gold = self._counts(label)
        return tp / gold if gold else 0.0

    def f1(self, label: Sentiment = Sentiment.NEGATIVE) -> float:
        p, r = self.precision(label), self.recall(label)
        return 2 * p * r / (p + r) if p + r else 0.0


def evaluate_sentiment(rows: Iterable[tuple[str, str]],
                       classify_fn: Callable[[str], tuple[Sentiment, float]] | None = None
                       ) -> SentimentReport:
    """Classify each (text, label) where label is Negatif/Netral/Positif or SmSA's English."""
    if classify_fn is None:
        from functions.sentiment import classify as classify_fn
    preds = []
    for text, raw in rows:
        gold = sentiment_label(raw)
        label, score = classify_fn(text)
        preds.append((text, gold, label, score))
    confusion = Counter((g, p) for _, g, p, _ in preds)
    return SentimentReport(len(preds), sum(1 for _, g, p, _ in preds if g == p), dict(confusion),
                           preds)


def format_sentiment_report(rep: SentimentReport, title: str = "") -> str:
    neg = Sentiment.NEGATIVE
    f1 = rep.f1(neg)
    lines = [f"Sentiment evaluation{': ' + title if title else ''} ({rep.total} texts)", ""]
    lines.append(f"  accuracy (3 classes)  {_pct(rep.accuracy)}  ({rep.correct}/{rep.total})")
    lines.append(f"  Negatif precision     {_pct(rep.precision(neg))}")
    lines.append(f"  Negatif recall        {_pct(rep.recall(neg))}")
    lines.append(f"  Negatif F1            {f1:7.3f}   target >= {TARGET_NEGATIVE_F1:.2f}  "
                 f"{'OK' if f1 >= TARGET_NEGATIVE_F1 else 'BELOW TARGET'}")
    order = list(Sentiment)
    lines += ["", "  label \\ predicted " + "".join(f"{s.value:>10}" for s in order)]
    for g in order:
        lines.append(f"  {g.value:<18}" + "".join(f"{rep.confusion.get((g, p), 0):>10}" for p in order))
    return "\n".join(lines)


def write_sentiment_predictions(rep: SentimentReport, out: Path | str) -> None:
    with open(out, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "sentiment", "predicted", "score"])
        for text, gold, pred, score in rep.predictions:
            w.writerow([text, gold.value, pred.value, f"{score:.3f}"])


# --- CLI entry points (main.py eval-routing / eval-sentiment) ------------------------------


def main_eval_routing(path: Path | str, predictions_path: Path | str | None = None, *,
                      rules=None, out: TextIO | None = None, history: Path | str | None = None) -> int:
    """Print the routing report for a `text,opd` CSV; 0 when it ran, 2 on unreadable input.
    With `history` (`text,opd`, oldest first, as if KMC's settled cases) a model is learned from
    it first and routing combines rules and model, as intake does."""
    out = out or sys.stdout
    try:
        rows = read_labelled(path, "opd")
        past = read_labelled(history, "opd") if history else None
    except EvalInputError as e:
        print(f"eval-routing: {e}", file=sys.stderr)
        return 2
    if rules is None:
        from functions.routing import load_rules

        rules = load_rules()
    route_fn, learned = None, ""
    if past is not None:
        from functions.routing_model import decide, load_thresholds
        from functions.services.route_learning import examples_from_pairs, train

        thr = load_thresholds()
        examples = examples_from_pairs(past)
        model = train(examples, rules, thr)
        route_fn = lambda text, r: decide(text, r, model, thr)  # noqa: E731
        learned = (f"learned from {len(examples)} history cases in {Path(history).name}: "
                   + (f"model over {len(model.classes)} OPDs, {len(model.weights)} features"
                      if model else f"too few for a model (minimum {thr.min_examples}); rules alone"))
    rep = evaluate_routing(rows, rules, route_fn)
    if predictions_path:  # written first: the report may go to a closed pipe (| head)
        write_routing_predictions(rep, predictions_path)
    if learned:
        print(learned, file=out)
    print(format_routing_report(rep, Path(path).name), file=out)
    if predictions_path:
        print(f"\n  predictions written to {predictions_path}", file=out)
    return 0


def main_eval_sentiment(path: Path | str, predictions_path: Path | str | None = None, *,
                        out: TextIO | None = None) -> int:
    """Print the sentiment report for a `text,sentiment` CSV or SmSA TSV; 0 when it ran."""
    out = out or sys.stdout
    try:
        rows = read_labelled(path, "sentiment")
        rep = evaluate_sentiment(rows)
    except EvalInputError as e:
        print(f"eval-sentiment: {e}", file=sys.stderr)
        return 2
    if predictions_path:  # written first: the report may go to a closed pipe (| head)
        write_sentiment_predictions(rep, predictions_path)
    print(format_sentiment_report(rep, Path(path).name), file=out)
    if predictions_path:
        print(f"\n  predictions written to {predictions_path}", file=out)
    return 0


# --- timings (scripts/bench.py) ------------------------------------------------------------

_BENCH_TEXTS = (
    "Assalamualaikum pak, jln di Desa Sungai Awan Kiri rusak parah bgt, byk lubang2, kalo ujan "
    "jadi kolam. mhn segera diperbaiki 🙏",
    "aek pdam di kompleks kamek dak ngalir udah 3 ari, tolonggg",
    "Sampah numpuk di TPS pasar, baunya sampai ke rumah warga",
    "listrik padam tiap malam di Sei Melayu, PLN tdk ada pemberitahuan",
    "KTP sy blm jadi sdh 3 bulan, katanya blanko habis",
    "Warga keluhkan pungli di kantor pelayanan, minta bupati bertindak tegas",
)


def _clear_caches() -> None:
    from functions import location, routing, schema, sentiment, textnorm

    for fn in (schema.load_schema, textnorm._load_lexicon, textnorm.forms, textnorm._replace,
               location._load_gazetteer, routing._settings_and_rows, routing._load_rules,
               routing.document, sentiment._load_detector):
        fn.cache_clear()


def bench_routing(texts: Iterable[str] = (), repeat: int = 200) -> dict:
    """Timings in milliseconds: cold loads of the routing table and the sentiment detector
    (caches cleared, modules already imported), and routing + sentiment of one complaint
    (first sight of its words, and steady state: median, p95, max)."""
    from functions.routing import document, load_rules, route
    from functions.sentiment import classify, load_detector

    sample = list(texts) or list(_BENCH_TEXTS)
    out: dict[str, float] = {}
    loads, dets, cpu = [], [], []
    for _ in range(5):
        _clear_caches()
        c0, t0 = time.process_time(), time.perf_counter()
        rules = load_rules()
        c1, t1 = time.process_time(), time.perf_counter()
        det = load_detector()
        t2 = time.perf_counter()
        loads.append((t1 - t0) * 1e3)
        cpu.append((c1 - c0) * 1e3)
        dets.append((t2 - t1) * 1e3)
    out["rules_load_ms"] = statistics.median(loads)
    out["rules_load_cpu_ms"] = statistics.median(cpu)  # wall time inflates on a busy machine
    out["sentiment_load_ms"] = statistics.median(dets)
    first = []
    for text in sample:  # caches of word forms are empty for words not seen at load time
        document.cache_clear()
        t0 = time.perf_counter()
        route(text, rules)
        classify(text, det)
        first.append((time.perf_counter() - t0) * 1e3)
    out["complaint_first_ms"] = max(first)
    times = []
    for _ in range(max(1, repeat // len(sample))):
        for text in sample:
            document.cache_clear()  # measure the real work, not the per-text cache
            t0 = time.perf_counter()
            route(text, rules)
            classify(text, det)
            times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    out["complaint_median_ms"] = statistics.median(times)
    out["complaint_p95_ms"] = times[int(0.95 * (len(times) - 1))]
    out["complaint_max_ms"] = times[-1]
    return out


def format_bench(b: dict) -> str:
    def ok(v: float, target: float) -> str:
        return "OK" if v < target else "ABOVE TARGET"

    return "\n".join([
        "Routing and sentiment timings (this machine)",
        f"  routing table load        {b['rules_load_ms']:7.1f} ms   target < {TARGET_LOAD_MS:.0f} ms  "
        f"{ok(b['rules_load_ms'], TARGET_LOAD_MS)}",
        f"    of which CPU time       {b['rules_load_cpu_ms']:7.1f} ms",
        f"  sentiment detector load   {b['sentiment_load_ms']:7.1f} ms   (well under a second)",
        f"  route+sentiment, median   {b['complaint_median_ms']:7.2f} ms   target < "
        f"{TARGET_COMPLAINT_MS:.0f} ms  {ok(b['complaint_median_ms'], TARGET_COMPLAINT_MS)}",
        f"  route+sentiment, p95      {b['complaint_p95_ms']:7.2f} ms",
        f"  route+sentiment, max      {b['complaint_max_ms']:7.2f} ms",
        f"  first sight of new words  {b['complaint_first_ms']:7.2f} ms (worst of the sample)",
    ])
