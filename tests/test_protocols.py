"""Folds: disjoint, speaker independent where claimed, every utterance tested once."""

import numpy as np
import pytest

from configs import base
from ser_jax import protocols


def _tested_once(folds, n):
    counts = np.zeros(n, int)
    for f in folds:
        counts[f.test] += 1
    return np.all(counts == 1)


def _assert_disjoint(fold, speakers=None):
    parts = [set(fold.train.tolist()), set(fold.val.tolist()), set(fold.test.tolist())]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    if speakers is not None:
        spk = [set(speakers[list(p)].tolist()) for p in parts]
        assert not (spk[0] & spk[1] or spk[0] & spk[2] or spk[1] & spk[2])


def test_emodb_leave_one_speaker_out(emodb):
    folds = protocols.make_folds(base.get_config().protocol, emodb)
    assert len(folds) == 10
    for f in folds:
        _assert_disjoint(f, emodb.speakers)
        assert f.train.size + f.val.size + f.test.size == len(emodb)
        assert len(set(emodb.speakers[f.test].tolist())) == 1
    assert _tested_once(folds, len(emodb))


def _iemocap_like(seed=0):
    rng = np.random.default_rng(seed)
    sessions = np.repeat([f"Ses0{i}" for i in range(1, 6)], 40)
    speakers = np.asarray([s + rng.choice(["F", "M"]) for s in sessions])
    labels = rng.integers(0, 4, sessions.size)
    return sessions, speakers, labels


def test_leave_one_session_out_both_directions_tests_everyone_once():
    sessions, speakers, _ = _iemocap_like()
    folds = protocols.leave_one_session_out(sessions, speakers)
    assert len(folds) == 10
    for f in folds:
        _assert_disjoint(f, speakers)
        assert set(sessions[f.val].tolist()) == set(sessions[f.test].tolist())  # same held-out session
    assert _tested_once(folds, sessions.size)


def test_leave_one_session_out_five_folds():
    sessions, speakers, _ = _iemocap_like()
    folds = protocols.leave_one_session_out(sessions, speakers, both_directions=False)
    assert len(folds) == 5 and all(len(set(speakers[f.test].tolist())) == 1 for f in folds)


def test_fixed_sessions():
    sessions, speakers, _ = _iemocap_like()
    (fold,) = protocols.fixed_sessions(sessions, speakers, train=("Ses01", "Ses02", "Ses03"),
                                       val=("Ses04",), test=("Ses05",))
    _assert_disjoint(fold, speakers)
    assert (fold.train.size, fold.val.size, fold.test.size) == (120, 40, 40)
    with pytest.raises(protocols.ProtocolError, match="Ses09"):
        protocols.fixed_sessions(sessions, speakers, train=("Ses09",), val=("Ses04",), test=("Ses05",))


def test_stratified_kfold_halves_the_held_out_fold():
    _, speakers, labels = _iemocap_like()
    folds = protocols.stratified_kfold(labels, speakers, k=5, seed=3)
    held = np.zeros(labels.size, int)
    for f in folds:
        _assert_disjoint(f)
        assert not f.speaker_independent
        assert abs(f.val.size - f.test.size) <= 4
        held[f.val] += 1
        held[f.test] += 1
        assert abs(np.mean(labels[f.test] == 0) - np.mean(labels == 0)) < 0.1  # stratified
    assert np.all(held == 1)
    again = protocols.stratified_kfold(labels, speakers, k=5, seed=3)
    assert all(np.array_equal(a.test, b.test) for a, b in zip(folds, again))


def test_bad_fold_is_refused_in_code():
    speakers = np.asarray(["a", "a", "b", "c"])
    leaky = protocols.Fold("leaky", np.array([0, 2]), np.array([1]), np.array([3]), True)
    with pytest.raises(protocols.ProtocolError, match=r"speaker\(s\) \['a'\] in both train and val"):
        protocols.checked(leaky, speakers)
    overlap = protocols.Fold("overlap", np.array([0, 3]), np.array([1]), np.array([3]), False)
    with pytest.raises(protocols.ProtocolError, match="1 utterances in both train and test"):
        protocols.checked(overlap, speakers)
    with pytest.raises(protocols.ProtocolError, match="at least 3 speakers"):
        protocols.leave_one_speaker_out(np.asarray(["a", "b"]))
