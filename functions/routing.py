"""Route a complaint to the OPD that must answer it, from rules kept as data.

Rules (`sheets_schema/routing.toml`, or the spreadsheet's `Rute` tab) list per OPD topics with
weighted keywords and negative cues. Keyword syntax, on normalised text (see textnorm):

    sampah            a word; also matches its affixed forms (sampahnya, persampahan ...)
    lampu jalan       a phrase: consecutive words
    jalan & rusak     both words within a few words of each other, in any order
    lubang*           any word starting with "lubang"
    camat!            exactly this word (not "kecamatan", which contains it as a root)
    ...:3             weight (default 1)

A topic scores the sum of its matched keyword weights, each word of the text counting once
(the heaviest keyword covering it wins), and zero if a negative cue matches.
The dominant OPD wins; weak or tied evidence goes to TRIASE, never to a guess. Topics owned by
LUAR_PEMDA name the outside body (PLN, BPN, police ...) and compete like the others.
"""
from __future__ import annotations

import math
import re
import time
import tomllib
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Callable, Iterable

from functions.location import Gazetteer, load_gazetteer, place_name
from functions.model import OUTSIDE, TRIAGE, Route
from functions.schema import SCHEMA_DIR, load_schema
from functions.textnorm import Lexicon, forms, load_lexicon, tokens

# Rute tab columns: (row key, Indonesian header KMC admins see)
RULE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("opd", "OPD"),
    ("topic", "Topik"),
    ("keywords", "Kata Kunci (bobot)"),
    ("exclude", "Kecuali"),
)
UNCLEAR_TOPIC = "Belum jelas"
_WEIGHT = re.compile(r"^(.*?)(?::\s*(\d+(?:[.,]\d+)?))?$")


@dataclass(frozen=True)
class Keyword:
    source: str  # as written by the admin, e.g. "jalan & rusak:3"
    parts: tuple[str, ...]  # "jalan", "lampu jalan" (phrase), "lubang*" (prefix), "camat!"
    weight: float


@dataclass(frozen=True)
class Rule:
    opd: str
    topic: str
    keywords: tuple[Keyword, ...]
    exclude: tuple[Keyword, ...] = ()


@dataclass(frozen=True)
class Settings:
    min_score: float = 2.0  # best OPD below this -> TRIASE
    min_margin: float = 0.2  # (best - second) / best below this -> TRIASE (a tie)
    window: int = 6  # "a & b": words at most this far apart
    secondary_share: float = 0.5  # other topics of the same OPD add this share of their score


@dataclass(frozen=True)
class RoutingRules:
    rules: tuple[Rule, ...]
    settings: Settings = field(default_factory=Settings)
    lexicon: Lexicon | None = field(default=None, compare=False)
    gazetteer: Gazetteer | None = field(default=None, compare=False)


# --- parsing --------------------------------------------------------------------------------


def _part(text: str, source: str, lexicon: Lexicon) -> str:
    prefix = text.strip().endswith("*")
    exact = text.strip().endswith("!")
    toks = tokens(text.replace("*", " ").replace("!", " "), lexicon)
    if not toks:
        raise ValueError(f"kata kunci '{source}' kosong")
    if prefix:
        if len(toks) > 1 or len(toks[0]) < 3:
            raise ValueError(f"'{source}': awalan kata minimal 3 huruf, mis. 'lubang*'")
        return toks[0] + "*"
    if exact:
        return " ".join(toks) + "!"
    return " ".join(toks)


def parse_keyword(source: str, lexicon: Lexicon) -> Keyword:
    """Parse one keyword as written by an admin; raises ValueError with an Indonesian reason."""
    m = _WEIGHT.match(source.strip())
    text, weight_s = (m.group(1).strip(), m.group(2)) if m else (source.strip(), None)
    try:
        weight = float(weight_s.replace(",", ".")) if weight_s else 1.0
    except ValueError:
        raise ValueError(f"'{source}': bobot harus angka") from None
    if ":" in text:
        raise ValueError(f"'{source}': bobot sesudah ':' harus angka, mis. 'sampah:3'")
    if not 0 < weight <= 10:
        raise ValueError(f"'{source}': bobot harus antara 0 dan 10")
    parts = tuple(_part(p, source, lexicon) for p in text.split("&"))
    return Keyword(source.strip(), parts, weight)


def _split_cell(cell: str) -> list[str]:
    return [p.strip() for p in re.split(r"[,;\n]", cell or "") if p.strip()]


def _rule_from(opd: str, topic: str, keywords: list[str], exclude: list[str], lex: Lexicon,
               known_opds: frozenset[str]) -> tuple[Rule | None, list[str]]:
    problems: list[str] = []
    opd = (opd or "").strip().upper()
    topic = (topic or "").strip()
    if opd not in known_opds:
        return None, [f"OPD '{opd}' tidak dikenal"]
    if not topic:
        return None, ["topik kosong"]
    kws: list[Keyword] = []
    for src in keywords:
        try:
            kws.append(parse_keyword(src, lex))
        except ValueError as e:
            problems.append(str(e))
    exc: list[Keyword] = []
    for src in exclude:
        try:
            exc.append(parse_keyword(src, lex))
        except ValueError as e:
            problems.append(str(e))
    if not kws:
        return None, problems + ["tidak ada kata kunci yang sah"]
    return Rule(opd, topic, tuple(kws), tuple(exc)), problems


def _cell(value: str | list[str]) -> str:
    """A TOML keyword cell: one comma/line separated string (or a list of strings)."""
    return value if isinstance(value, str) else ", ".join(value)


def _known_opds(directory: Path) -> frozenset[str]:
    return frozenset(k for k in load_schema(directory).opd_keys if k != TRIAGE)


@cache
def _settings_and_rows(directory: Path) -> tuple[Settings, tuple[dict[str, str], ...]]:
    with open(directory / "routing.toml", "rb") as fh:
        data = tomllib.load(fh)
    settings = Settings(**data.get("settings", {}))
    rows = tuple(
        {
            "opd": r.get("opd", ""),
            "topic": r.get("topic", ""),
            "keywords": _cell(r.get("keywords", "")),
            "exclude": _cell(r.get("exclude", "")),
        }
        for r in data.get("rule", ())
    )
    return settings, rows


def rules_from_rows(rows: list[dict[str, str]], directory: Path = SCHEMA_DIR
                    ) -> tuple[RoutingRules, list[str]]:
    """Rules from `Rute` tab rows ({opd, topic, keywords, exclude}); broken rows are reported
    (Indonesian, with the row number as the sheet shows it) and skipped, never fatal."""
    lex = load_lexicon(directory)
    known = _known_opds(directory)
    settings, _ = _settings_and_rows(directory)
    rules: list[Rule] = []
    problems: list[str] = []
    for n, row in enumerate(rows, start=2):  # row 1 is the header
        if not any((v or "").strip() for v in row.values()):
            continue
        rule, probs = _rule_from(row.get("opd", ""), row.get("topic", ""),
                                 _split_cell(row.get("keywords", "")),
                                 _split_cell(row.get("exclude", "")), lex, known)
        problems.extend(f"Rute baris {n}: {p}" for p in probs)
        if rule:
            rules.append(rule)
    return RoutingRules(tuple(rules), settings, lex, load_gazetteer(directory)), problems


def rules_to_rows(rules: RoutingRules) -> list[dict[str, str]]:
    """The rules as `Rute` tab rows, in the form an admin edits them."""
    return [
        {
            "opd": r.opd,
            "topic": r.topic,
            "keywords": ", ".join(k.source for k in r.keywords),
            "exclude": ", ".join(k.source for k in r.exclude),
        }
        for r in rules.rules
    ]


def load_rules(directory: Path = SCHEMA_DIR) -> RoutingRules:
    """The shipped rules (`routing.toml`), loaded once per directory; a broken shipped rule
    fails loudly."""
    return _load_rules(Path(directory))


@cache
def _load_rules(directory: Path) -> RoutingRules:
    _, rows = _settings_and_rows(directory)
    rules, problems = rules_from_rows(list(rows), directory)
    if problems:
        raise ValueError("routing.toml: " + "; ".join(problems))
    return rules


class RuleSource:
    """Routing rules read from the spreadsheet's `Rute` tab through a short-lived cache.

    `read_rows()` returns the tab's rows as {opd, topic, keywords, exclude} dicts (the store
    adapter's job). Broken rows are reported once per change and skipped. When the tab cannot
    be read, the last good rules stay in use; when it has never been read or holds no valid
    rule, the shipped rules (routing.toml) are used, so routing never stops.
    """

    def __init__(self, read_rows: Callable[[], list[dict[str, str]]], *, ttl_seconds: float = 300,
                 clock: Callable[[], float] = time.monotonic, directory: Path = SCHEMA_DIR,
                 report: Callable[[list[str]], None] | None = None):
        self._read_rows = read_rows
        self._ttl = ttl_seconds
        self._clock = clock
        self._directory = directory
        self._report = report or _log_problems
        self._rules: RoutingRules | None = None
        self._loaded_at = -math.inf
        self._last_problems: list[str] = []
        self.problems: list[str] = []

    def get(self) -> RoutingRules:
        now = self._clock()
        if self._rules is not None and now - self._loaded_at < self._ttl:
            return self._rules
        self._loaded_at = now  # also after a failure: do not hammer an unavailable store
        try:
            rows = self._read_rows()
        except Exception as e:  # noqa: BLE001 - any store failure: keep routing with what we have
            self.problems = [f"Tab Rute tidak terbaca ({type(e).__name__}); memakai aturan terakhir"]
            self._report(self.problems)
            return self._rules or load_rules(self._directory)
        rules, problems = rules_from_rows(rows, self._directory)
        if not rules.rules:
            problems = problems + ["Tab Rute tidak berisi aturan yang sah; memakai aturan bawaan"]
            rules = load_rules(self._directory)
        self.problems = problems
        if problems and problems != self._last_problems:
            self._report(problems)
        self._last_problems = problems
        self._rules = rules
        return rules


def _log_problems(problems: list[str]) -> None:
    from functions.logs import log

    log("WARNING", "routing table problems", problems=problems[:50], count=len(problems))


# --- matching -------------------------------------------------------------------------------


class Text:
    """Normalised tokens with an index from every plausible root form to its positions."""

    __slots__ = ("toks", "index")

    def __init__(self, toks: list[str]):
        self.toks = toks
        self.index: dict[str, list[int]] = {}
        for i, t in enumerate(toks):
            for f in forms(t):
                self.index.setdefault(f, []).append(i)

    def positions(self, part: str) -> list[tuple[int, ...]]:
        """Each occurrence of a part as the tuple of token positions it covers."""
        if part.endswith("*"):
            stem = part[:-1]
            return [(i,) for i, t in enumerate(self.toks) if t.startswith(stem)]
        exact = part.endswith("!")
        words = part.rstrip("!").split(" ")
        n = len(words)
        if exact:
            return [tuple(range(i, i + n)) for i in range(len(self.toks) - n + 1)
                    if self.toks[i : i + n] == words]
        return [
            tuple(range(i, i + n)) for i in self.index.get(words[0], ())
            if all(i + j in self.index.get(w, ()) for j, w in enumerate(words[1:], 1))
        ]

    def match(self, kw: Keyword, window: int) -> tuple[int, ...]:
        """Token positions covered by one occurrence of the keyword, or () if absent."""
        first = self.positions(kw.parts[0])
        if not first or len(kw.parts) == 1:
            return first[0] if first else ()
        others = [self.positions(p) for p in kw.parts[1:]]
        for occ in first:
            covered = list(occ)
            for ps in others:
                near = [o for o in ps if abs(o[0] - occ[0]) <= window]
                if not near:
                    break
                covered.extend(near[0])
            else:
                return tuple(covered)
        return ()

    def score(self, keywords: Iterable[Keyword], window: int
              ) -> tuple[float, list[tuple[Keyword, tuple[int, ...]]]]:
        """Sum of matched weights, heaviest first, skipping a keyword whose words were all
        already counted by a heavier one ("kantor camat" and "camat" count once)."""
        found = [(kw, self.match(kw, window)) for kw in keywords]
        found = sorted(((kw, pos) for kw, pos in found if pos),
                       key=lambda f: (-f[0].weight, -len(f[1])))
        used: set[int] = set()
        total, hits = 0.0, []
        for kw, pos in found:
            if used.issuperset(pos):
                continue
            used.update(pos)
            total += kw.weight
            hits.append((kw, pos))
        return total, hits


class KeywordIndex:
    """Groups of keywords indexed by the word each must start with, so a text is only
    checked against keywords that can possibly match it (a few dozen of ~1,500)."""

    def __init__(self, groups: Iterable[Iterable[Keyword]]):
        self.groups: list[tuple[Keyword, ...]] = [tuple(g) for g in groups]
        self.by_word: dict[str, list[tuple[int, Keyword]]] = {}
        self.always: list[tuple[int, Keyword]] = []
        for g, kws in enumerate(self.groups):
            for kw in kws:
                head = kw.parts[0]
                if head.endswith("*"):
                    self.always.append((g, kw))
                else:
                    self.by_word.setdefault(head.rstrip("!").split(" ")[0], []).append((g, kw))

    def candidates(self, doc: Text) -> dict[int, list[Keyword]]:
        out: dict[int, list[Keyword]] = {}
        for g, kw in self.always:
            out.setdefault(g, []).append(kw)
        by_word = self.by_word
        for form in doc.index:
            for g, kw in by_word.get(form, ()):
                out.setdefault(g, []).append(kw)
        return out


@lru_cache(maxsize=32)
def document(text: str, lexicon: Lexicon) -> Text:
    """The indexed tokens of a text; cached so routing and sentiment share the work."""
    return Text(tokens(text, lexicon))


def _index(rules: RoutingRules) -> tuple[KeywordIndex, KeywordIndex]:
    idx = rules.__dict__.get("_index")
    if idx is None:  # built once per rule set (frozen dataclass: stored beside the fields)
        idx = (KeywordIndex(r.keywords for r in rules.rules),
               KeywordIndex(r.exclude for r in rules.rules))
        object.__setattr__(rules, "_index", idx)
    return idx


def score_topics(text: str, rules: RoutingRules) -> list[tuple[float, Rule]]:
    """Every topic with a positive score, best first (for explanations and evaluation)."""
    doc = document(text, rules.lexicon or load_lexicon())
    window = rules.settings.window
    keywords, excludes = _index(rules)
    blocked = {
        g for g, kws in excludes.candidates(doc).items()
        if any(doc.match(k, window) for k in kws)
    }
    scored: list[tuple[float, Rule]] = []
    for g, kws in keywords.candidates(doc).items():
        if g in blocked:
            continue
        s, _ = doc.score(kws, window)
        if s > 0:
            scored.append((s, rules.rules[g]))
    scored.sort(key=lambda x: -x[0])
    return scored


def _location(text: str, rules: RoutingRules) -> str:
    lex = rules.lexicon or load_lexicon()
    gaz = rules.gazetteer or load_gazetteer()
    return place_name(text, document(text, lex).toks, gaz, lex)


def route(text: str, rules: RoutingRules) -> Route:
    """The OPD (or TRIASE / LUAR_PEMDA) for a complaint, the matched topic, a 0..1 confidence
    and the place named in it."""
    st = rules.settings
    scored = score_topics(text, rules)
    location = _location(text, rules)
    by_opd: dict[str, float] = {}
    best_topic: dict[str, Rule] = {}
    for s, rule in scored:  # best first: the first topic of an OPD is its dominant one
        if rule.opd in best_topic:
            by_opd[rule.opd] += st.secondary_share * s
        else:
            by_opd[rule.opd] = s
            best_topic[rule.opd] = rule
    ranking = sorted(by_opd.items(), key=lambda kv: -kv[1])
    if not ranking:
        return Route(TRIAGE, UNCLEAR_TOPIC, 0.0, location)
    (opd1, s1), (opd2, s2) = ranking[0], (ranking[1] if len(ranking) > 1 else ("", 0.0))
    strength = 1 - math.exp(-s1 / st.min_score)
    confidence = round(strength * s1 / (s1 + s2), 3)
    if s1 < st.min_score:
        return Route(TRIAGE, f"{UNCLEAR_TOPIC} (mungkin {best_topic[opd1].topic})",
                     confidence, location)
    if s2 > 0 and (s1 - s2) / s1 < st.min_margin:
        return Route(TRIAGE,
                     f"Ragu: {best_topic[opd1].topic} ({opd1}) / {best_topic[opd2].topic} ({opd2})",
                     confidence, location)
    return Route(opd1, best_topic[opd1].topic, confidence, location)


__all__ = ["RULE_COLUMNS", "OUTSIDE", "RoutingRules", "Rule", "RuleSource", "Keyword",
           "KeywordIndex", "Text",
           "document", "load_rules", "route", "rules_from_rows", "rules_to_rows", "score_topics",
           "parse_keyword"]
