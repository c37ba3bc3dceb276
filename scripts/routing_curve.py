#!/usr/bin/env python
"""Learning curve of routing that learns (issue 18): train on the first N cases of a history,
route the test set, print accuracy on routed cases and coverage per N (N = 0: the rules alone).

    python scripts/routing_curve.py [HISTORY.csv TEST.csv]

Defaults to the simulated set of scripts/make_routing_devset.py — SMOKE-TEST DATA we wrote
ourselves (templates and rules by the same hands): the figures show the mechanism works, not
how well it will do on Ketapang's real complaints.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from functions.routing import load_rules  # noqa: E402
from functions.routing_model import decide, load_thresholds  # noqa: E402
from functions.services.evaluation import evaluate_routing, read_labelled  # noqa: E402
from functions.services.route_learning import examples_from_pairs, train  # noqa: E402

SIZES = (0, 200, 500, 1000, 2000, 3000)


def main(argv: list[str]) -> int:
    data = ROOT / "tests" / "data"
    history_path = Path(argv[0]) if argv else data / "routing-sim-history.csv"
    test_path = Path(argv[1]) if len(argv) > 1 else data / "routing-sim-test.csv"
    history = examples_from_pairs(read_labelled(history_path, "opd"))
    test = read_labelled(test_path, "opd")
    rules, thr = load_rules(), load_thresholds()
    print(f"history {history_path.name} ({len(history)} cases, oldest first) -> test {test_path.name} ({len(test)})")
    print(f"{'history cases':>14}  {'model':>6}  {'accuracy on routed':>18}  {'coverage':>8}")
    for n in sorted({s for s in SIZES if s < len(history)} | {len(history)}):
        model = train(history[:n], rules, thr) if n else None
        rep = evaluate_routing(test, rules, lambda t, r: decide(t, r, model, thr))
        print(f"{n:>14}  {'yes' if model else 'no':>6}  {rep.routed_accuracy:>17.1%}  {rep.coverage:>8.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
