"""Lian et al.'s evaluation, and the classic reference: an SVM on the learned vectors (or on
the features themselves), C chosen on validation only."""

from __future__ import annotations

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from ser_jax import metrics
from ser_jax.errors import SerJaxError


KERNELS = ("rbf", "linear")


def _svc(c, kernel):
    if kernel not in KERNELS:
        raise ValueError(f"SVM kernel {kernel!r} is not one of {KERNELS}")
    return SVC(C=c, kernel=kernel, class_weight="balanced")


def _fit(x, y, c, kernel):
    return make_pipeline(StandardScaler(), _svc(c, kernel)).fit(x, y)


def fit_probabilistic(x, y, c: float, kernel: str = "rbf"):
    """The SVM of `select_and_test` (fitted on train+val with the chosen C), with sigmoid-
    calibrated class probabilities (`predict_proba`, calibrated by stratified 5-fold
    cross-validation on the same vectors, fewer folds where a class has fewer than 5) for
    inference.

    Raises:
      SerJaxError: a class has a single vector (nothing to calibrate it with).
    """
    values, counts = np.unique(y, return_counts=True)
    if counts.min() < 2:
        raise SerJaxError(f"class {values[counts.argmin()]} has one vector among the SVM's {len(y)}: its "
                          "probabilities cannot be calibrated; give it more utterances")
    folds = int(min(5, counts.min()))
    calibrated = CalibratedClassifierCV(_svc(c, kernel), method="sigmoid", cv=folds, ensemble=False)
    return make_pipeline(StandardScaler(), calibrated).fit(x, y)


def probabilities(split_x: dict, split_y: dict, *, c: float, num_classes: int, kernel: str = "rbf") -> dict:
    """Class probabilities [N, num_classes] of val and test, as `select_and_test` predicts them:
    val from the SVM fitted on train, test from the one refitted on train+val, each with
    sigmoid-calibrated probabilities (`fit_probabilistic`). A class absent from the fitting
    vectors gets probability 0. What a seed ensemble of an SVM method averages."""
    fits = {"val": (split_x["train"], split_y["train"]),
            "test": (np.concatenate([split_x["train"], split_x["val"]]),
                     np.concatenate([split_y["train"], split_y["val"]]))}
    out = {}
    for split, (x, y) in fits.items():
        model = fit_probabilistic(x, y, c, kernel)
        full = np.zeros((len(split_x[split]), num_classes))
        full[:, model.classes_] = model.predict_proba(split_x[split])
        out[split] = full
    return out


def val_summary(train_x, train_y, val_x, val_y, *, c: float, num_classes: int, kernel: str = "rbf") -> dict:
    """Validation figures (`metrics.summarize`: UA, WA, macro F1) of an SVM fitted on the training vectors."""
    pred = _fit(train_x, train_y, c, kernel).predict(val_x)
    return metrics.summarize(metrics.confusion_matrix(val_y, pred, num_classes), range(num_classes))


def select_and_test(split_x: dict, split_y: dict, *, cs, num_classes: int,
                    kernel: str = "rbf", others: dict | None = None) -> tuple[float, np.ndarray, np.ndarray, dict]:
    """Chooses C by validation UA (SVM fitted on train), refits on train+val, predicts test.

    Args:
      others: {name: (vectors, labels)} also predicted by the refitted SVM (cross-corpus targets).

    Returns:
      (chosen C, val confusion [C, C] of the chosen C, test confusion [C, C], {name: confusion} of `others`).
    """
    scores = [val_summary(split_x["train"], split_y["train"], split_x["val"], split_y["val"], c=c,
                          num_classes=num_classes, kernel=kernel)["ua"] for c in cs]
    best = float(cs[int(np.argmax(scores))])
    val_pred = _fit(split_x["train"], split_y["train"], best, kernel).predict(split_x["val"])
    model = _fit(np.concatenate([split_x["train"], split_x["val"]]),
                 np.concatenate([split_y["train"], split_y["val"]]), best, kernel)
    extra = {name: metrics.confusion_matrix(y, model.predict(x), num_classes) for name, (x, y) in (others or {}).items()}
    return (best, metrics.confusion_matrix(split_y["val"], val_pred, num_classes),
            metrics.confusion_matrix(split_y["test"], model.predict(split_x["test"]), num_classes), extra)
