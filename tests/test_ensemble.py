"""Seed ensembles: the members' probabilities averaged fold by fold, against hand-computed
figures; members of other folds are refused."""

import json

import numpy as np
import pytest

from configs import egemaps_svm, pdt
from ser_jax import ensemble, metrics, rundir, svm
from ser_jax.errors import SerJaxError


def _member(root, name, test, test_labels, val_labels=(0, 1)):
    fold = root / name / "fold_00"
    fold.mkdir(parents=True)
    rundir.write_probabilities(fold, {"val": np.full((len(val_labels), 2), 0.5), "test": np.asarray(test)},
                               {"val": np.asarray(val_labels), "test": np.asarray(test_labels)})
    (fold / rundir.RESULT).write_text(json.dumps({"fold": "test=03 val=08"}))
    return root / name


def test_members_probabilities_are_averaged(tmp_path):
    labels = [0, 0, 1, 1]
    # alone, a gets utterances 0 and 2 right (UA 0.5) and b gets 0, 1, 3 right (UA 0.75)
    a = _member(tmp_path, "a", [[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.6, 0.4]], labels)
    b = _member(tmp_path, "b", [[0.6, 0.4], [0.7, 0.3], [0.6, 0.4], [0.1, 0.9]], labels)
    # mean: [0.75, 0.25], [0.55, 0.45], [0.45, 0.55], [0.35, 0.65] → 0, 0, 1, 1: all right
    (fold,) = ensemble.fold_results([a, b], ("anger", "sadness"))
    assert fold["fold"] == "test=03 val=08"
    assert fold["test"]["ua"] == pytest.approx(1.0) and fold["test"]["confusion"] == [[2, 0], [0, 2]]


def test_members_of_other_folds_or_without_probabilities_are_refused(tmp_path):
    a = _member(tmp_path, "a", [[0.9, 0.1], [0.2, 0.8]], [0, 1])
    b = _member(tmp_path, "b", [[0.9, 0.1], [0.2, 0.8]], [1, 0])
    with pytest.raises(SerJaxError, match=r"b/fold_00/probabilities.npz: its test utterances are not those"):
        ensemble.fold_results([a, b], ("anger", "sadness"))
    (b / "fold_00" / rundir.PROBABILITIES).unlink()
    with pytest.raises(SerJaxError, match=r"b/fold_00/probabilities.npz is missing"):
        ensemble.fold_results([a, b], ("anger", "sadness"))


def test_a_member_kept_without_its_folds_is_refused_with_the_fix(tmp_path):
    """A run restored from its results.json alone (no fold folders) would give an ensemble of no
    folds, and the table a crash or an empty row: refused, naming the folder and the way out."""
    a = tmp_path / "a"
    a.mkdir()
    (a / rundir.RESULTS).write_text("{}")
    b = _member(tmp_path, "b", [[0.9, 0.1], [0.2, 0.8]], [0, 1])
    with pytest.raises(SerJaxError, match=r"a holds no finished fold .* --config.ensemble=False"):
        ensemble.fold_results([a, b], ("anger", "sadness"))


def _svm_member(root, name, seed):
    """A finished fold of an SVM method: embeddings.npz (3 classes, 2-d clusters with some overlap)
    and the result.json the SVM of C = 1 gives on them."""
    rng = np.random.default_rng(seed)
    centres = np.asarray([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
    x, y = {}, {}
    for split, n in (("train", 30), ("val", 8), ("test", 8)):
        y[split] = np.repeat(np.arange(3), n).astype(np.int32)
        x[split] = (centres[y[split]] + rng.normal(0, 0.8, (3 * n, 2))).astype(np.float32)
    fold = root / name / "fold_00"
    fold.mkdir(parents=True)
    rundir.write_embeddings(fold, x, y)
    _, _, test_conf, _ = svm.select_and_test(x, y, cs=(1.0,), num_classes=3)
    (fold / rundir.RESULT).write_text(json.dumps({"fold": "test=03 val=08", "svm_c": 1.0, "svm_kernel": "rbf",
                                                  "test": {"confusion": test_conf.tolist()}}))
    return root / name, x, y, test_conf


def test_svm_members_get_calibrated_probabilities_from_their_embeddings(tmp_path):
    """The pairwise task's members: each fold's probabilities come from its kept embeddings
    (val from the SVM fitted on train, test from the one refitted on train+val), checked
    against the fold's recorded test confusion; the eGeMAPS reference trains nothing and gets none."""
    config = pdt.get_config()
    members = [_svm_member(tmp_path, f"seed_{s}", s) for s in (0, 1)]
    for workdir, x, y, test_conf in members:
        assert ensemble.write_missing(config, workdir, out=lambda _: None) == 1
        stored = rundir.read_probabilities(workdir / "fold_00")
        for split in ("val", "test"):
            assert stored[split].shape == (24, 3)
            np.testing.assert_allclose(stored[split].sum(axis=1), 1.0, atol=1e-9)
            np.testing.assert_array_equal(stored[f"{split}_labels"], y[split])
        # the calibrated SVM predicts what the plain one did on almost every test utterance
        calibrated = metrics.confusion_matrix(y["test"], stored["test"].argmax(axis=1), 3)
        assert np.abs(calibrated - test_conf).sum() <= 4 and np.trace(calibrated) >= 16
        # val: fitted without the val vectors, so moving them does not change the train-only fit's
        # scores of the others
        moved = {**x, "val": x["val"].copy()}
        moved["val"][:4] += 10.0
        again = svm.probabilities(moved, y, c=1.0, num_classes=3)
        np.testing.assert_allclose(again["val"][4:], stored["val"][4:], atol=1e-12)
        assert not np.allclose(again["test"], stored["test"], atol=1e-3)  # test: refitted on train+val
        assert ensemble.write_missing(config, workdir, out=lambda _: None) == 0  # nothing missing now
    (fold,) = ensemble.fold_results([m[0] for m in members], ("anger", "boredom", "sadness"))
    assert fold["test"]["n"] == 24

    workdir, x, y, test_conf = members[0]
    (workdir / "fold_00" / rundir.PROBABILITIES).unlink()
    wrong = test_conf.copy()
    wrong[0, 0] += 1
    result = json.loads((workdir / "fold_00" / rundir.RESULT).read_text())
    (workdir / "fold_00" / rundir.RESULT).write_text(json.dumps({**result, "test": {"confusion": wrong.tolist()}}))
    with pytest.raises(SerJaxError, match=r"seed_0/fold_00/embeddings.npz: the SVM refitted on these embeddings "
                                          r"does not give the test confusion"):
        ensemble.write_missing(config, workdir, out=lambda _: None)
    assert ensemble.write_missing(egemaps_svm.get_config(), workdir, out=lambda _: None) == 0
    assert rundir.read_probabilities(workdir / "fold_00") is None


def test_svm_probabilities_with_a_rare_class_use_fewer_calibration_folds_and_refuse_a_single_vector():
    """A class with 3 training vectors (a small corpus) is calibrated with 3 folds rather than
    failing inside scikit-learn; a class with one vector is refused in one line."""
    rng = np.random.default_rng(0)
    y = {"train": np.r_[np.zeros(20), np.ones(20), np.full(3, 2)].astype(np.int32),
         "val": np.asarray([0, 1, 2], np.int32), "test": np.asarray([0, 1, 2, 2], np.int32)}
    x = {s: (np.eye(3, 2)[y[s]] * 4 + rng.normal(0, 0.5, (len(y[s]), 2))).astype(np.float32) for s in y}
    probs = svm.probabilities(x, y, c=1.0, num_classes=4)
    assert probs["val"].shape == (3, 4) and probs["test"].shape == (4, 4)
    assert np.all(probs["test"][:, 3] == 0)  # a class no fitting vector has
    np.testing.assert_allclose(probs["test"].sum(axis=1), 1.0, atol=1e-9)
    assert list(probs["test"].argmax(axis=1)) == [0, 1, 2, 2]
    y["train"] = y["train"][:41]  # class 2 keeps one training vector
    with pytest.raises(SerJaxError, match="class 2 has one vector among the SVM's 41"):
        svm.probabilities({**x, "train": x["train"][:41]}, y, c=1.0, num_classes=4)
