"""Evaluation aggregation: a confusion matrix gives the known WA and UA; the separation figure
against hand-computed values."""

import numpy as np
import pytest

from ser_jax import metrics


def test_constant_model_gives_known_wa_and_ua():
    # 10 utterances: 5 of class 0, 3 of class 1, 2 of class 2; a classifier that predicts
    # class 1 whatever it hears.
    labels = np.array([0, 0, 0, 0, 0, 1, 1, 1, 2, 2])
    result = metrics.summarize(metrics.confusion_matrix(labels, np.ones(10, np.int64), 3), ("a", "b", "c"))
    # WA = 3 correct / 10 ; UA = mean(0, 1, 0) = 1/3
    assert result["n"] == 10 and result["wa"] == pytest.approx(0.3)
    assert result["ua"] == pytest.approx(1 / 3)
    assert result["recall"] == {"a": 0.0, "b": 1.0, "c": 0.0}


def test_absent_class_is_left_out_of_ua():
    result = metrics.summarize(np.array([[2, 1, 0], [0, 3, 0], [0, 0, 0]]), ("a", "b", "c"))
    # recalls 2/3 and 1; class c has no utterance: UA = (2/3 + 1) / 2
    assert result["ua"] == pytest.approx(5 / 6) and result["recall"]["c"] is None
    assert result["wa"] == pytest.approx(5 / 6)


def test_confusion_matrix_counts_pairs():
    matrix = metrics.confusion_matrix(np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, 0]), 3)
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 1, 0], [1, 0, 1]])


def test_separation_hand_computed():
    # class 0 at 0 and 2 (centroid 1), class 1 at 10 and 12 (centroid 11): intra 1, inter 10
    x = np.asarray([[0.0], [2.0], [10.0], [12.0]])
    assert metrics.separation(x, np.asarray([0, 0, 1, 1])) == pytest.approx(0.1)
    with pytest.raises(ValueError):
        metrics.separation(x, np.zeros(4, int))


def test_separation_is_lower_for_clusters_than_for_shuffled_labels():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 50)
    x = rng.normal(size=(4, 16))[labels] * 5 + rng.normal(size=(200, 16))
    clustered = metrics.separation(x, labels)
    shuffled = metrics.separation(x, rng.permutation(labels))
    assert clustered < 0.5 < shuffled


def test_macro_f1_hand_computed_and_as_scikit_learn_computes_it():
    # rows true, columns predicted: a: 2 right, 1 → b; b: 3 right; c: 1 right, 1 → a, 2 → b
    confusion = np.array([[2, 1, 0], [0, 3, 0], [1, 2, 1]])
    # F1 = 2TP / (2TP + FP + FN): a 4/(4+1+1) = 2/3, b 6/(6+3+0) = 2/3, c 2/(2+0+3) = 2/5
    expected = (2 / 3 + 2 / 3 + 2 / 5) / 3
    assert metrics.summarize(confusion, ("a", "b", "c"))["macro_f1"] == pytest.approx(expected)
    from sklearn.metrics import f1_score
    y_true = np.repeat(np.arange(3).repeat(3), confusion.ravel())
    y_pred = np.repeat(np.tile(np.arange(3), 3), confusion.ravel())
    assert metrics.macro_f1(confusion) == pytest.approx(f1_score(y_true, y_pred, average="macro"))


def test_macro_f1_leaves_out_classes_absent_from_the_truth():
    # class c is never true but predicted once: its F1 (0) is not averaged in; a's precision drops
    confusion = np.array([[2, 0, 1], [0, 3, 0], [0, 0, 0]])
    # a: 4/(4+0+1) = 0.8, b: 6/(6+0+0) = 1
    assert metrics.macro_f1(confusion) == pytest.approx(0.9)
    assert np.isnan(metrics.macro_f1(np.zeros((2, 2), np.int64)))
