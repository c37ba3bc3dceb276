"""The media job's configuration: sheets_schema/media.toml (feeds, relevance terms, limits)
plus the kecamatan names of kecamatan.toml, and how "about the regency" and "negative" are read."""
from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Callable, Iterable

from ..model import Sentiment
from ..schema import SCHEMA_DIR, Schema, load_schema


@dataclass(frozen=True)
class FetchLimits:
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 15.0
    total_seconds: float = 30.0
    max_megabytes: float = 5.0
    max_redirects: int = 5


@dataclass(frozen=True)
class Relevance:
    strong: tuple[str, ...]  # normalised phrases; any one makes an item relevant
    ambiguous: tuple[str, ...] = ()
    elsewhere: tuple[str, ...] = ()
    mask: tuple[str, ...] = ()

    def match(self, text: str) -> str | None:
        """The term that makes `text` about the regency, or None."""
        padded = f" {normalise(text)} "
        for phrase in self.mask:
            padded = padded.replace(f" {phrase} ", " | ")
        for term in self.strong:
            if f" {term} " in padded:
                return term
        if any(f" {w} " in padded for w in self.elsewhere):
            return None
        for term in self.ambiguous:
            if f" {term} " in padded:
                return term
        return None


@dataclass(frozen=True)
class MediaConfig:
    feeds: tuple[str, ...]
    relevance: Relevance
    fetch: FetchLimits = field(default_factory=FetchLimits)
    max_age_days: float = 7.0
    memory_days: float = 30.0
    title_similarity: float = 0.85
    title_days: float = 3.0
    negative_min_score: float = 0.5


def media_sentiment(classify: Callable[[str], tuple[Sentiment, float]], text: str,
                    min_score: float) -> Sentiment:
    """The detector's reading for published text. News is written in a neutral register, so
    the complaint-friendly tie-break (Negatif wins when it is close) is not enough here: an item
    is negative only when the detector also gives negativity >= `min_score`."""
    label, negativity = classify(text)
    if label == Sentiment.NEGATIVE and negativity < min_score:
        return Sentiment.NEUTRAL
    return label


def normalise(text: str) -> str:
    """Lower case, accents and punctuation removed, single spaces."""
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    return " ".join(re.sub(r"[^\w]+|_", " ", text).split())


def _phrases(values: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for v in values:
        n = normalise(v)
        if n and n not in out:
            out.append(n)
    return tuple(out)


@cache
def load_media_config(directory: Path = SCHEMA_DIR) -> MediaConfig:
    """media.toml plus the kecamatan names and spellings of kecamatan.toml."""
    with open(directory / "media.toml", "rb") as fh:
        data = tomllib.load(fh)
    schema: Schema = load_schema(directory)
    rel = data.get("relevance", {})
    places = [k.name for k in schema.kecamatan]
    places += [v for k in schema.kecamatan for v in k.variants if len(normalise(v)) >= 5]
    strong = _phrases([*places, *rel.get("institutions", ()), *rel.get("officials", ()),
                       *rel.get("terms", ())])
    relevance = Relevance(strong, _phrases(rel.get("ambiguous", ())),
                          _phrases(rel.get("elsewhere", ())), _phrases(rel.get("mask", ())))
    fetch = FetchLimits(**data.get("fetch", {}))
    keys = ("max_age_days", "memory_days", "title_similarity", "title_days", "negative_min_score")
    return MediaConfig(tuple(data.get("feeds", ())), relevance, fetch,
                       **{k: float(data[k]) for k in keys if k in data})
