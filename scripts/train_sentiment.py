"""Train the negativity model shipped as functions/data/sentiment_model.json.

    pip install scikit-learn && python scripts/train_sentiment.py [SMSA_DIR]

Data: IndoNLU SmSA (train split only; the valid split stays held out and is reported).
Purwarianti & Crisdayanti (2019); Wilie et al. (2020), IndoNLU. See ../shared/data/smsa/SOURCE.md
for origin and licence. Features are those of functions.sentiment.features() on our own
normalisation, so training and inference cannot drift. Weights are pruned and rounded to keep
the file small; inference is pure Python (no numpy/scikit-learn on the intake path).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from functions.sentiment import MODEL_PATH, features  # noqa: E402
from functions.textnorm import tokens  # noqa: E402

CLASSES = ["Negatif", "Netral", "Positif"]
_LABELS = {"negative": "Negatif", "neutral": "Netral", "positive": "Positif"}
C = 0.5  # L2 strength, chosen by 5-fold cross-validation on the train split only
MIN_COUNT = 2
KEEP = 12000  # features kept, by largest absolute weight


def read(path: Path) -> tuple[list[set[str]], list[str]]:
    X, y = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        text, _, label = line.rpartition("\t")
        if text:
            X.append(features(tokens(text)))
            y.append(_LABELS[label.strip()])
    return X, y


def main(argv: list[str]) -> int:
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import classification_report, f1_score
    from sklearn.model_selection import cross_val_score

    smsa = Path(argv[0]) if argv else ROOT.parent / "shared" / "data" / "smsa"
    Xtr, ytr = read(smsa / "train_preprocess.tsv")
    Xva, yva = read(smsa / "valid_preprocess.tsv")
    counts: dict[str, int] = {}
    for feats in Xtr:
        for f in feats:
            counts[f] = counts.get(f, 0) + 1
    vocab = {f for f, n in counts.items() if n >= MIN_COUNT}
    vec = DictVectorizer()
    A = vec.fit_transform([{f: 1 for f in x if f in vocab} for x in Xtr])
    B = vec.transform([{f: 1 for f in x if f in vocab} for x in Xva])
    if "--cv" in argv:
        for c in (0.1, 0.25, 0.5, 1.0, 2.0):
            m = LogisticRegression(C=c, max_iter=3000)
            s = cross_val_score(m, A, ytr, cv=5, scoring="f1_macro")
            print(f"C={c}: cv macro-F1 {s.mean():.3f}")
    model = LogisticRegression(C=C, max_iter=3000).fit(A, ytr)
    order = [list(model.classes_).index(c) for c in CLASSES]
    coef = model.coef_[order]
    names = vec.get_feature_names_out()
    strength = abs(coef).max(axis=0)
    keep = strength.argsort()[::-1][:KEEP]
    weights = {str(names[j]): [round(float(coef[i, j]), 3) for i in range(3)] for j in sorted(keep)}
    bias = [round(float(model.intercept_[i]), 4) for i in order]
    # measure the pruned, rounded model exactly as shipped
    def predict(x: set[str]) -> str:
        logit = list(bias)
        for f in x:
            w = weights.get(f)
            if w:
                logit = [a + b for a, b in zip(logit, w)]
        return CLASSES[max(range(3), key=lambda i: logit[i])]

    pred = [predict(x) for x in Xva]
    f1_neg = f1_score(yva, pred, labels=["Negatif"], average=None)[0]
    print(classification_report(yva, pred, digits=3))
    out = {
        "about": "Logistic regression over words and word pairs (functions.sentiment.features), "
        "trained by scripts/train_sentiment.py on IndoNLU SmSA train_preprocess.tsv. "
        "Data: Purwarianti & Crisdayanti (2019); Wilie et al. (2020), IndoNLU "
        "(github.com/IndoNLP/indonlu, Apache-2.0 repository licence).",
        "classes": CLASSES,
        "bias": bias,
        "valid_negative_f1": round(float(f1_neg), 4),
        "weights": weights,
    }
    MODEL_PATH.write_text(json.dumps(out, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    print(f"negative F1 on SmSA valid: {f1_neg:.3f}; wrote {len(weights)} features to "
          f"{MODEL_PATH.relative_to(ROOT)} ({MODEL_PATH.stat().st_size // 1024} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
