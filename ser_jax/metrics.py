"""WA, UA, macro-F1 and per-class recall from a summed confusion matrix (never a mean of batch
means), and the separation of embeddings.

`separation` puts a number on "more compact": the mean distance of each utterance to its
class centroid divided by the mean distance between class centroids, in the embedding space.
Lower means tighter, better separated classes.
"""

from __future__ import annotations

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """int64 [C, C] counts, rows = true class, columns = predicted class."""
    cells = np.asarray(y_true) * num_classes + np.asarray(y_pred)
    return np.bincount(cells, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def summarize(confusion: np.ndarray, classes) -> dict:
    """Metrics of one evaluation.

    Args:
      confusion: int [C, C] counts, rows = true class, columns = predicted class.
      classes: C names.

    Returns:
      dict: wa (correct / total), ua (mean recall over classes present in the data),
      macro_f1 (mean F1 over the same classes; a class never predicted has precision 0),
      recall {class: recall or None if absent}, n (utterances), confusion (nested lists).
    """
    confusion = np.asarray(confusion, np.int64)
    support = confusion.sum(axis=1)
    present = support > 0
    recall = np.divide(np.diag(confusion), support, out=np.zeros(len(support)), where=present)
    total = int(confusion.sum())
    return {
        "wa": float(np.trace(confusion) / total) if total else float("nan"),
        "ua": float(recall[present].mean()) if present.any() else float("nan"),
        "macro_f1": macro_f1(confusion),
        "recall": {c: (float(r) if p else None) for c, r, p in zip(classes, recall, present)},
        "n": total,
        "confusion": confusion.tolist(),
    }


def macro_f1(confusion: np.ndarray) -> float:
    """Mean over the classes present in the truth (rows with support) of 2·TP / (2·TP + FP + FN),
    as UA averages recall over them; NaN for an empty matrix. Predictions of a class absent
    from the truth count as false positives of nothing but lower the true classes' recall."""
    confusion = np.asarray(confusion, np.int64)
    present = confusion.sum(axis=1) > 0
    if not present.any():
        return float("nan")
    tp = np.diag(confusion).astype(np.float64)
    denominator = confusion.sum(axis=0) + confusion.sum(axis=1)  # (TP + FP) + (TP + FN)
    f1 = np.divide(2 * tp, denominator, out=np.zeros(len(tp)), where=denominator > 0)
    return float(f1[present].mean())


def separation(embeddings: np.ndarray, labels: np.ndarray) -> float:
    """Mean distance to the own class centroid ÷ mean distance between class centroids.

    Args:
      embeddings: [N, D].
      labels: int [N]; at least two distinct classes.
    """
    x = np.asarray(embeddings, np.float64)
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if classes.size < 2:
        raise ValueError("separation needs at least two classes")
    centroids = np.stack([x[labels == c].mean(axis=0) for c in classes])
    own = centroids[np.searchsorted(classes, labels)]
    intra = np.linalg.norm(x - own, axis=1).mean()
    i, j = np.triu_indices(classes.size, k=1)
    inter = np.linalg.norm(centroids[i] - centroids[j], axis=1).mean()
    return float(intra / max(inter, 1e-12))
