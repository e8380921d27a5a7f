"""WA, UA and per-class recall from a summed confusion matrix (never a mean of batch means)."""

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
        "recall": {c: (float(r) if p else None) for c, r, p in zip(classes, recall, present)},
        "n": total,
        "confusion": confusion.tolist(),
    }
