"""Negative-information detection for the `sentiment` column and monitoring alerts.

A small lexicon (sheets_schema/sentiment.toml) on normalised text. Pure and fast.
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from functions.model import Sentiment
from functions.routing import Keyword, _Text, parse_keyword
from functions.schema import SCHEMA_DIR
from functions.textnorm import load_lexicon, tokens

_WINDOW = 4


@dataclass(frozen=True)
class Detector:
    negative: tuple[Keyword, ...]
    positive: tuple[Keyword, ...]
    alert: tuple[Keyword, ...]
    alert_threshold: float


@cache
def load_detector(directory: Path = SCHEMA_DIR) -> Detector:
    with open(directory / "sentiment.toml", "rb") as fh:
        data = tomllib.load(fh)
    lex = load_lexicon(directory)

    def kws(name: str) -> tuple[Keyword, ...]:
        return tuple(parse_keyword(s, lex) for s in data.get(name, ()))

    return Detector(kws("negative"), kws("positive"), kws("alert"),
                    float(data.get("alert_threshold", 3.0)))


def _sum(doc: _Text, keywords: tuple[Keyword, ...]) -> float:
    return sum(k.weight for k in keywords if doc.matches(k, _WINDOW))


def classify(text: str, detector: Detector | None = None) -> tuple[Sentiment, float]:
    """(label, negativity 0..1)."""
    det = detector or load_detector()
    doc = _Text(tokens(text, load_lexicon()))
    neg, pos = _sum(doc, det.negative), _sum(doc, det.positive)
    score = 1 / (1 + math.exp(-(neg - pos) * 0.8))
    if neg > pos and neg >= 1:
        return Sentiment.NEGATIVE, round(score, 3)
    if pos > neg:
        return Sentiment.POSITIVE, round(score, 3)
    return Sentiment.NEUTRAL, round(score, 3)


def is_alert(text: str, detector: Detector | None = None) -> bool:
    """True when a negative text is grave enough to reach an OPD head at once."""
    det = detector or load_detector()
    label, _ = classify(text, det)
    if label != Sentiment.NEGATIVE:
        return False
    doc = _Text(tokens(text, load_lexicon()))
    return _sum(doc, det.alert) >= det.alert_threshold
