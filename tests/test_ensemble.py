"""Seed ensembles: the members' probabilities averaged fold by fold, against hand-computed
figures; members of other folds are refused."""

import json

import numpy as np
import pytest

from ser_jax import ensemble, rundir
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
