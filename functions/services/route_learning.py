"""Learn routing from the cases KMC and the OPDs have settled (a step of the daily job).

What a case teaches: its text and the tab where it was finally handled. A case counts when it
is closed (`Selesai`) or was forwarded (`Teruskan ke` moved it; `forward_history` says from
where): a case forwarded PUTR -> DLH sits in DLH's tab and teaches DLH, and the forward marks the
first route as a mistake the rules made. Open cases nobody corrected, cases an OPD marked
`Bukan Wewenang`, withdrawn cases and TRIASE are not labels.

Training uses scikit-learn (imported here only: intake never loads it): a multinomial logistic
regression on binary features (routing_model.features). The newest cases (time order) are held
out first to measure how the model does on cases it did not see; the model stored is then trained
on everything. The export keeps the strongest weights only, as JSON the store keeps durably.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Sequence

from ..case import all_cases
from ..model import TRIAGE, Status
from ..routing import RoutingRules
from ..stores.port import Workbook
from .evaluation import RoutingReport, evaluate_routing
from ..routing_model import (CORRUPT, LearnedModel, Thresholds, decide, dumps, read_stored,
                             text_features)


@dataclass(frozen=True)
class Example:
    text: str
    opd: str
    at: datetime | None = None
    forwarded: bool = False  # the first route was corrected by a forward
    first: str = ""  # where the case was first routed, when a forward moved it


def settled_examples(tabs: dict[str, list[dict]]) -> list[Example]:
    """Training examples from `read_all()` tabs, oldest first."""
    out: list[Example] = []
    for case in all_cases(tabs):
        text, status = case.text.strip(), case.status.strip()
        if case.tab == TRIAGE or not text or status == Status.NOT_OURS or case.withdrawn:
            continue
        if status != Status.DONE and not case.forwarded:
            continue
        hops = case.forward_moves()
        out.append(Example(text, case.tab, case.received_at, case.forwarded, hops[0][1] if hops else ""))
    out.sort(key=lambda e: (e.at is None, e.at.timestamp() if e.at else 0.0))
    return out


@dataclass
class LearningReport:
    examples: int = 0
    forwarded: int = 0
    classes: int = 0
    holdout: RoutingReport | None = None  # rules + trial model on the newest cases it did not see
    holdout_rules: RoutingReport | None = None  # the rules alone on the same cases
    model: LearnedModel | None = None
    stored: bool = False
    previous: str = ""  # status of the model that was stored before this run
    corrections: list[tuple[tuple[str, str], int]] = field(default_factory=list)  # (first, final) routes
    skipped: str = ""  # why no model was trained

    def summary(self) -> str:
        """One Indonesian line for the digest."""
        if self.skipped:
            return f"Rute otomatis: {self.skipped}"
        h, r = self.holdout, self.holdout_rules
        text = (f"Rute otomatis: model dilatih dari {_count(self.examples)} aduan selesai/diteruskan "
                f"({_count(self.forwarded)} hasil penerusan), {self.classes} OPD.")
        if h and r and h.total:
            text += (f" Uji pada {h.total} aduan terbaru yang tidak dipakai melatih: tepat "
                     f"{h.routed_accuracy:.0%} dari yang dirutekan, cakupan {h.coverage:.0%} (aturan saja: "
                     f"tepat {r.routed_accuracy:.0%}, cakupan {r.coverage:.0%}).")
        if self.corrections:
            text += " Rute pertama yang paling sering dikoreksi lewat 'Teruskan ke': " + ", ".join(
                f"{a} → {b} ({n})" for (a, b), n in self.corrections) + "."
        if not self.stored:
            text += " Model TIDAK disimpan (uji coba)."
        if self.previous.startswith(CORRUPT):
            text += f" Sebelumnya: {self.previous}; kini diganti."
        return text


def _count(n: int) -> str:
    return f"{n:,}".replace(",", ".")  # Indonesian thousands separator


def train(examples: Sequence[Example], rules: RoutingRules, thr: Thresholds,
          info: dict | None = None) -> LearnedModel | None:
    """A model from examples, or None when they are too few or name fewer than two OPDs."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    counts: dict[str, int] = {}
    for e in examples:
        counts[e.opd] = counts.get(e.opd, 0) + 1
    classes = sorted(k for k, n in counts.items() if n >= thr.min_per_opd)
    kept = [e for e in examples if e.opd in classes][-thr.max_examples:]  # the newest: habits drift
    if len(kept) < thr.min_examples or len(classes) < 2:
        return None
    x, names = _matrix(kept, rules, thr.min_feature_count)
    y = np.array([classes.index(e.opd) for e in kept])
    # tol 1e-3: the same routes as the default 1e-4 in half the time (the daily job has 1/3 vCPU)
    clf = LogisticRegression(C=thr.regularisation, max_iter=200, tol=1e-3)
    clf.fit(x, y)
    coef = clf.coef_  # (classes, features)
    strongest = np.abs(coef).max(axis=0)
    order = np.argsort(-strongest)[: thr.max_features]
    weights: dict[str, list[float]] = {}
    for j in order:
        col = coef[:, j]
        flat: list[float] = []
        for k in np.nonzero(np.abs(col) >= thr.min_weight)[0]:
            flat += [int(k), round(float(col[k]), 3)]
        if flat:
            weights[names[j]] = flat
    bias = tuple(round(float(b), 3) for b in clf.intercept_)
    return LearnedModel(tuple(classes), bias, weights, dict(info or {}))


def _matrix(examples: Sequence[Example], rules: RoutingRules, min_count: int):
    """(binary CSR matrix, feature names) over features seen in at least `min_count` examples.
    Built with integer arrays, one pass over the texts: the daily job shares 512 MiB with the
    digest's pandas and the read of every tab."""
    from array import array

    import numpy as np
    from scipy.sparse import csr_matrix

    ids: dict[str, int] = {}
    indptr, indices = array("l", [0]), array("l")
    for e in examples:
        for f in text_features(e.text, rules):
            indices.append(ids.setdefault(f, len(ids)))
        indptr.append(len(indices))
    cols = np.frombuffer(indices, dtype=np.int64) if indices else np.zeros(0, dtype=np.int64)
    x = csr_matrix((np.ones(len(cols), dtype=np.float64), cols, np.frombuffer(indptr, dtype=np.int64)),
                   shape=(len(examples), len(ids)))
    keep = np.nonzero(np.bincount(cols, minlength=len(ids)) >= min_count)[0]
    names = list(ids)
    return x[:, keep], [names[j] for j in keep]


def learn(examples: Sequence[Example], rules: RoutingRules, thr: Thresholds, *,
          now: datetime | None = None) -> LearningReport:
    """Hold out the newest cases, measure, then train the stored model on everything."""
    report = LearningReport(examples=len(examples), forwarded=sum(e.forwarded for e in examples))
    report.corrections = Counter((e.first, e.opd) for e in examples
                                 if e.first and e.first not in (TRIAGE, e.opd)).most_common(3)
    if len(examples) < thr.min_examples:
        report.skipped = (f"belum cukup riwayat ({len(examples)} aduan selesai/diteruskan; minimal "
                          f"{thr.min_examples}); rute memakai aturan saja.")
        return report
    n_out = min(thr.max_holdout, int(len(examples) * thr.holdout_share))
    info = {"trained_at": now.isoformat() if now else "", "examples": len(examples),
            "forwarded": report.forwarded}
    if n_out:
        trial = train(examples[:-n_out], rules, thr)
        newest = [(e.text, e.opd) for e in examples[-n_out:]]
        report.holdout = evaluate_routing(newest, rules, lambda t, r: decide(t, r, trial, thr))
        report.holdout_rules = evaluate_routing(newest, rules)
        info.update(holdout_cases=n_out, holdout_accuracy=round(report.holdout.routed_accuracy, 4),
                    holdout_coverage=round(report.holdout.coverage, 4))
    report.model = train(examples, rules, thr, info)
    if report.model is None:
        report.skipped = "riwayat belum mencakup dua OPD atau lebih; rute memakai aturan saja."
        return report
    report.classes = len(report.model.classes)
    return report


def learn_routing(workbook: Workbook, tabs: dict[str, list[dict]], rules: RoutingRules, thr: Thresholds, *,
                  now: datetime, known_opds: frozenset[str] | None = None,
                  dry_run: bool = False) -> LearningReport:
    """The daily step: check the stored model, learn from the settled cases, store the new model.
    No history leaves routing to the rules alone."""
    try:
        _, previous = read_stored(workbook.read_routing_model, known_opds)
    except Exception as e:  # noqa: BLE001 - a read failure must not stop the digest
        previous = f"model tersimpan tidak terbaca ({type(e).__name__})"
    report = learn(settled_examples(tabs), rules, thr, now=now)
    report.previous = previous
    if report.model is not None and not dry_run:
        workbook.write_routing_model(dumps(report.model))
        report.stored = True
    elif report.skipped and previous.startswith(CORRUPT):
        report.skipped += f" Catatan: {previous}."
    return report


def examples_from_pairs(pairs: Iterable[tuple[str, str]]) -> list[Example]:
    """`text,opd` rows (eval-routing --history) as examples, in file order (oldest first)."""
    return [Example(t, o.strip().upper()) for t, o in pairs if t and o.strip().upper() != TRIAGE]
