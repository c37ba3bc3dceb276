"""Negative-information detection: the `sentiment` column (Negatif/Netral/Positif) of monitoring
cases and the alert that must reach an OPD head at once.

Two parts, both pure Python and loaded once (a few milliseconds):
- a logistic-regression model over words and word pairs, trained offline on IndoNLU SmSA
  (scripts/train_sentiment.py -> functions/data/sentiment_model.json);
- a lexicon for the language of complaints and local news (sheets_schema/sentiment.toml), added
  to the model's scores: SmSA is mostly restaurant and app reviews, so it does not know that
  "tak kunjung diperbaiki" or "warga mengungsi" is bad news.
"""
from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from functions.model import Sentiment
from functions.routing import Keyword, Text, document, parse_keyword
from functions.schema import SCHEMA_DIR
from functions.textnorm import Lexicon, load_lexicon, tokens

MODEL_PATH = Path(__file__).resolve().parent / "data" / "sentiment_model.json"
_CLASSES = (Sentiment.NEGATIVE, Sentiment.NEUTRAL, Sentiment.POSITIVE)
_WINDOW = 4


def features(toks: list[str]) -> set[str]:
    """Binary features shared by training and inference: words and adjacent word pairs."""
    feats = set(toks)
    feats.update(f"{a}_{b}" for a, b in zip(toks, toks[1:]))
    return feats


@dataclass(frozen=True)
class Model:
    bias: tuple[float, float, float]  # per class, in _CLASSES order
    weights: dict[str, list[float]]  # feature -> [Negatif, Netral, Positif]


@dataclass(frozen=True)
class Detector:
    model: Model | None
    negative: tuple[Keyword, ...]
    positive: tuple[Keyword, ...]
    neutral: tuple[Keyword, ...]
    alert: tuple[Keyword, ...]
    negators: frozenset[str]
    lexicon_weight: float  # logit added per unit of lexicon weight
    negative_margin: float  # how far Negatif's logit may trail and still win
    alert_threshold: float
    alert_min_score: float
    lexicon: Lexicon


def load_model(path: Path = MODEL_PATH) -> Model | None:
    if not path.exists():
        return None
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    if data["classes"] != [c.value for c in _CLASSES]:
        raise ValueError(f"{path.name}: classes must be {[c.value for c in _CLASSES]}")
    # weights stay as loaded ([neg, neu, pos] lists): copying 10k entries would double the cost
    return Model(tuple(data["bias"]), data["weights"])  # type: ignore[arg-type]


def load_detector(directory: Path = SCHEMA_DIR, model_path: Path = MODEL_PATH) -> Detector:
    """Lexicon lists and model, loaded once per (directory, model file)."""
    return _load_detector(Path(directory), Path(model_path))


@cache
def _load_detector(directory: Path, model_path: Path) -> Detector:
    with open(directory / "sentiment.toml", "rb") as fh:
        data = tomllib.load(fh)
    lex = load_lexicon(directory)

    def kws(name: str) -> tuple[Keyword, ...]:
        return tuple(parse_keyword(s, lex) for s in data.get(name, ()))

    return Detector(
        model=load_model(model_path),
        negative=kws("negative"),
        positive=kws("positive"),
        neutral=kws("neutral"),
        alert=kws("alert"),
        negators=frozenset(" ".join(tokens(n, lex)) for n in data.get("negators", ())),
        lexicon_weight=float(data.get("lexicon_weight", 1.0)),
        negative_margin=float(data.get("negative_margin", 0.0)),
        alert_threshold=float(data.get("alert_threshold", 3.0)),
        alert_min_score=float(data.get("alert_min_score", 0.5)),
        lexicon=lex,
    )


def _logits(doc: Text, det: Detector) -> tuple[list[float], bool]:
    """Class logits and whether the text held any evidence at all."""
    logits = [0.0, 0.0, 0.0]
    evidence = False
    if det.model is not None:
        logits = list(det.model.bias)
        for f in features(doc.toks):
            w = det.model.weights.get(f)
            if w:
                evidence = True
                logits[0] += w[0]
                logits[1] += w[1]
                logits[2] += w[2]
    neg, pos, neu = _cues(doc, det)
    logits[0] += det.lexicon_weight * neg
    logits[1] += det.lexicon_weight * neu
    logits[2] += det.lexicon_weight * pos
    return logits, evidence or bool(neg or pos or neu)


def _negated(doc: Text, positions: tuple[int, ...], negators: frozenset[str]) -> bool:
    start = min(positions)
    return any(doc.toks[i] in negators for i in range(max(0, start - 2), start))


def _cues(doc: Text, det: Detector) -> tuple[float, float, float]:
    """Lexicon weight for (negative, positive, neutral); a negated positive cue counts as
    negative ("tidak ramah"), a negated negative cue counts for nothing ("tidak ada korban")."""
    neg = pos = 0.0
    for kw, where in doc.score(det.negative, _WINDOW)[1]:
        if not _negated(doc, where, det.negators) or kw.parts[0] in det.negators:
            neg += kw.weight
    for kw, where in doc.score(det.positive, _WINDOW)[1]:
        if _negated(doc, where, det.negators):
            neg += kw.weight
        else:
            pos += kw.weight
    neu, _ = doc.score(det.neutral, _WINDOW)
    return neg, pos, neu


def _softmax(logits: list[float]) -> list[float]:
    m = max(logits)
    exps = [math.exp(x - m) for x in logits]
    total = sum(exps)
    return [e / total for e in exps]


def _classify_doc(doc: Text, det: Detector) -> tuple[Sentiment, float]:
    logits, evidence = _logits(doc, det)
    if not evidence:  # nothing known in the text: no opinion either way
        return Sentiment.NEUTRAL, 0.0
    probs = _softmax(logits)
    # negatives cost most when missed: Negatif wins when within `negative_margin` of the best
    if logits[0] + det.negative_margin >= max(logits[1], logits[2]):
        return Sentiment.NEGATIVE, round(probs[0], 3)
    label = Sentiment.NEUTRAL if logits[1] >= logits[2] else Sentiment.POSITIVE
    return label, round(probs[0], 3)


def classify(text: str, detector: Detector | None = None) -> tuple[Sentiment, float]:
    """(label, negativity 0..1): the probability that the text is negative information."""
    det = detector or load_detector()
    return _classify_doc(document(text, det.lexicon), det)


def is_alert(text: str, detector: Detector | None = None) -> bool:
    """True when a negative text is grave enough to reach an OPD head at once (victims,
    disasters, violence, corruption, virality)."""
    det = detector or load_detector()
    doc = document(text, det.lexicon)
    label, score = _classify_doc(doc, det)
    if label != Sentiment.NEGATIVE or score < det.alert_min_score:
        return False
    grave, _ = doc.score(det.alert, _WINDOW)
    return grave >= det.alert_threshold
