"""Routing learned from KMC's own decisions, combined with the Rute-tab rules.

The daily job trains a linear text classifier on the cases KMC and the OPDs have settled
(services/route_learning.py, scikit-learn there only) and stores a compact export: per feature
(normalised word, word pair, rule hint) the weights of the OPDs it speaks for. Intake loads that
export once per instance and predicts with a dictionary walk and a softmax (pure Python, well
under a millisecond).

How a text is routed (`decide`):
1. the rules (`routing.route`); a rule route whose confidence reaches `rule_authority` is final:
   explicit Rute rules stay authoritative where they match with confidence;
2. otherwise the learned model, when there is one: its best OPD if its probability reaches
   `model_min_probability`;
3. otherwise a rule route the model also ranks first stands; anything else goes to TRIASE.
With no model (a new deployment, or a stored model that is missing or corrupt) the rules decide
alone, exactly as before. Thresholds live in `sheets_schema/routing.toml` `[learning]`.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Callable

from functions.model import TRIAGE, Route
from functions.routing import RoutingRules, document, route, score_topics
from functions.schema import SCHEMA_DIR
from functions.textnorm import load_lexicon

MODEL_FORMAT = "kmc-routing-model/1"
LEARNED_TOPIC = "Dipelajari dari riwayat KMC"
RULE_HINTS = 3  # the rules' best OPDs given to the model as features


@dataclass(frozen=True)
class Thresholds:
    """`[learning]` of routing.toml: when rules are final, when the model may decide, what it needs."""

    rule_authority: float = 0.85
    model_min_probability: float = 0.6
    min_examples: int = 200
    max_examples: int = 12000
    min_per_opd: int = 5
    holdout_share: float = 0.15
    max_holdout: int = 1000
    max_features: int = 30000
    min_feature_count: int = 2
    regularisation: float = 4.0
    min_weight: float = 0.1
    ttl_seconds: float = 3600.0


@cache
def load_thresholds(directory: Path = SCHEMA_DIR) -> Thresholds:
    with open(Path(directory) / "routing.toml", "rb") as fh:
        data = tomllib.load(fh)
    return Thresholds(**data.get("learning", {}))


# --- features -------------------------------------------------------------------------------


def rule_hints(text: str, rules: RoutingRules) -> list[str]:
    """The OPDs the rules score highest (best first, at most RULE_HINTS)."""
    seen: list[str] = []
    for _, rule in score_topics(text, rules):
        if rule.opd not in seen:
            seen.append(rule.opd)
            if len(seen) == RULE_HINTS:
                break
    return seen


def _private(token: str) -> bool:
    """Numbers of 4+ digits (phone numbers, NIK, KK, account numbers) never become features: the
    model is stored in the workbook OPD staff can open (UU 27/2022)."""
    return sum(c.isdigit() for c in token) >= 4


def features(toks: list[str], hints: list[str]) -> set[str]:
    """Binary features shared by training and intake: words, adjacent word pairs, and which OPDs
    the rules point at (so the model learns how far to trust each rule in this regency)."""
    toks = [t for t in toks if not _private(t)]
    feats = {f"w:{t}" for t in toks}
    feats.update(f"b:{a}_{b}" for a, b in zip(toks, toks[1:]))
    feats.update(f"r{i}:{opd}" for i, opd in enumerate(hints))
    feats.update(f"r:{opd}" for opd in hints)
    return feats


def text_features(text: str, rules: RoutingRules) -> set[str]:
    doc = document(text, rules.lexicon or load_lexicon())
    return features(doc.toks, rule_hints(text, rules))


# --- the model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LearnedModel:
    classes: tuple[str, ...]  # OPD keys
    bias: tuple[float, ...]
    weights: dict[str, list[float]]  # feature -> flat [class index, weight, class index, weight ...]
    info: dict = field(default_factory=dict)  # what it learned from, when, holdout figures

    def scores(self, feats: set[str]) -> list[tuple[str, float]]:
        """(OPD, probability) for every class, best first."""
        logits = list(self.bias)
        get = self.weights.get
        for f in feats:
            w = get(f)
            if w:
                for i in range(0, len(w), 2):
                    logits[int(w[i])] += w[i + 1]
        top = max(logits)
        exps = [math.exp(x - top) for x in logits]
        total = sum(exps)
        return sorted(((c, e / total) for c, e in zip(self.classes, exps)), key=lambda kv: -kv[1])

    def contributions(self, feats: set[str], opd: str) -> list[tuple[str, float]]:
        """The features that pushed toward `opd` (explanations), strongest first."""
        if opd not in self.classes:
            return []
        k = self.classes.index(opd)
        out = []
        for f in feats:
            w = self.weights.get(f) or []
            for i in range(0, len(w), 2):
                if int(w[i]) == k and w[i + 1] > 0:
                    out.append((f, w[i + 1]))
        return sorted(out, key=lambda kv: -kv[1])


def dumps(model: LearnedModel) -> str:
    """The model as compact JSON text (what the store keeps)."""
    return json.dumps({"format": MODEL_FORMAT, "classes": list(model.classes), "bias": list(model.bias),
                       "info": model.info, "weights": model.weights},
                      ensure_ascii=False, separators=(",", ":"))


def loads(text: str, known_opds: frozenset[str] | None = None) -> LearnedModel:
    """A model from stored text; ValueError (with the reason) for anything that is not a whole,
    consistent model, so a truncated or hand-edited model is never used."""
    try:
        data = json.loads(text)
    except (TypeError, ValueError) as e:
        raise ValueError(f"bukan JSON yang utuh ({e.__class__.__name__})") from None
    if not isinstance(data, dict) or data.get("format") != MODEL_FORMAT:
        raise ValueError(f"format bukan {MODEL_FORMAT}")
    classes, bias, weights = data.get("classes"), data.get("bias"), data.get("weights")
    if not (isinstance(classes, list) and classes and all(isinstance(c, str) for c in classes)):
        raise ValueError("daftar OPD kosong atau rusak")
    if known_opds is not None and not set(classes) <= known_opds:
        raise ValueError(f"OPD tidak dikenal: {sorted(set(classes) - known_opds)}")
    if not (isinstance(bias, list) and len(bias) == len(classes)
            and all(isinstance(b, (int, float)) for b in bias)):
        raise ValueError("bias tidak cocok dengan daftar OPD")
    if not isinstance(weights, dict):
        raise ValueError("bobot rusak")
    n = len(classes)
    for f, w in weights.items():
        if (not isinstance(w, list) or len(w) % 2 or not all(isinstance(x, (int, float)) for x in w)
                or any(not 0 <= w[i] < n or w[i] != int(w[i]) for i in range(0, len(w), 2))):
            raise ValueError(f"bobot fitur {f!r} rusak")
    info = data.get("info") if isinstance(data.get("info"), dict) else {}
    return LearnedModel(tuple(classes), tuple(float(b) for b in bias), weights, info)


def checksum(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- deciding -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    route: Route
    by: str  # "aturan", "model", "aturan+model", "triase"
    rule_route: Route
    model_scores: list[tuple[str, float]]  # empty when there is no model
    features: set[str] = field(default_factory=set)


def decide_explained(text: str, rules: RoutingRules, model: LearnedModel | None,
                     thr: Thresholds) -> Decision:
    ruled = route(text, rules)
    if model is None:
        return Decision(ruled, "aturan" if ruled.opd != TRIAGE else "triase", ruled, [])
    feats = text_features(text, rules)
    if ruled.opd != TRIAGE and ruled.confidence >= thr.rule_authority:
        return Decision(ruled, "aturan", ruled, model.scores(feats), feats)
    scores = model.scores(feats)
    best, p = scores[0]
    if p >= thr.model_min_probability:
        topic = ruled.topic if ruled.opd == best else _topic_for(text, rules, best)
        return Decision(Route(best, topic, round(p, 3), ruled.location), "model", ruled, scores, feats)
    if ruled.opd != TRIAGE and ruled.opd == best:
        return Decision(ruled, "aturan+model", ruled, scores, feats)
    topic = f"Ragu: {best} ({p:.0%})" + (f" / aturan {ruled.opd}" if ruled.opd != TRIAGE else "")
    return Decision(Route(TRIAGE, topic, round(p, 3), ruled.location), "triase", ruled, scores, feats)


def decide(text: str, rules: RoutingRules, model: LearnedModel | None, thr: Thresholds) -> Route:
    """The route of a complaint: rules, the learned model, thresholds (see the module doc)."""
    return decide_explained(text, rules, model, thr).route


def _topic_for(text: str, rules: RoutingRules, opd: str) -> str:
    """The category written for a model route: the best rule topic of that OPD, if any matched."""
    for _, rule in score_topics(text, rules):
        if rule.opd == opd:
            return rule.topic
    return LEARNED_TOPIC


# --- the stored model at intake -------------------------------------------------------------


class ModelSource:
    """The learned model as the store keeps it, read once per `ttl_seconds` (a new model is made
    once a day). Missing -> None; corrupt -> None with the reason in `status` and one log line;
    unreadable store -> the model already loaded stays in use."""

    def __init__(self, read_text: Callable[[], str | None], *, ttl_seconds: float = 3600,
                 clock: Callable[[], float] = time.monotonic, known_opds: frozenset[str] | None = None,
                 report: Callable[[str], None] | None = None):
        self._read = read_text
        self._ttl = ttl_seconds
        self._clock = clock
        self._known = known_opds
        self._report = report or _log_problem
        self._model: LearnedModel | None = None
        self._loaded_at = -math.inf
        self.status = "belum dibaca"

    def get(self) -> LearnedModel | None:
        now = self._clock()
        if now - self._loaded_at < self._ttl:
            return self._model
        self._loaded_at = now
        try:
            self._model, self.status = read_stored(self._read, self._known)
        except Exception as e:  # noqa: BLE001 - any store failure: keep routing with what we have
            self.status = f"model tidak terbaca ({type(e).__name__}); memakai yang terakhir dimuat"
            self._report(self.status)
            return self._model
        if self._model is None and self.status.startswith(CORRUPT):
            self._report(self.status)
        return self._model


CORRUPT = "model rute tersimpan rusak"


def read_stored(read_text: Callable[[], str | None], known_opds: frozenset[str] | None = None
                ) -> tuple[LearnedModel | None, str]:
    """(model or None, status) from a store reader; a store that finds its copy damaged raises
    ValueError (a wrong checksum): that is a corrupt model, like unreadable JSON. Other store
    errors propagate (the caller keeps what it has)."""
    try:
        text = read_text()
    except ValueError as e:
        return None, f"{CORRUPT} ({e}); rute memakai aturan saja"
    return parse_stored(text, known_opds)


def parse_stored(text: str | None, known_opds: frozenset[str] | None = None
                 ) -> tuple[LearnedModel | None, str]:
    """(model or None, status in Indonesian) for what the store returned."""
    if not text:
        return None, "belum ada model rute tersimpan; rute memakai aturan saja"
    try:
        model = loads(text, known_opds)
    except ValueError as e:
        return None, f"{CORRUPT} ({e}); rute memakai aturan saja"
    return model, "model rute dipakai"


def _log_problem(message: str) -> None:
    from functions.logs import log

    log("WARNING", "routing model problem", problem=message)


__all__ = ["Decision", "LearnedModel", "ModelSource", "Thresholds", "decide", "decide_explained",
           "dumps", "features", "load_thresholds", "loads", "parse_stored", "read_stored", "text_features"]
