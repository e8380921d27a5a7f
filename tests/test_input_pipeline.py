"""Input scaling fitted on the training fold only, one utterance at a time."""

from pathlib import Path

import numpy as np
import pytest

from ser_jax import feature_cache, features, input_pipeline


def _store(utterances):
    """A variable-length FeatureStore over in-memory arrays (what the cache memory-maps)."""
    lengths = np.asarray([u.shape[0] for u in utterances], np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return feature_cache.FeatureStore(path=Path("."), params=features.PRESETS["dai_mel"], lengths=lengths,
                                      data=np.concatenate(utterances).astype(np.float32), offsets=offsets,
                                      computed=False)


@pytest.fixture
def store():
    rng = np.random.default_rng(0)
    return _store([rng.normal(0, 1, (n, 8)) for n in (30, 12, 25)] + [rng.normal(5, 1, (40, 8))])


def test_minmax_uses_training_utterances_only(store):
    train = np.asarray([0, 1, 2])
    frames = np.concatenate([store.get(r) for r in train])
    scaler = input_pipeline.fit_scaler("minmax", store, train)
    assert scaler.shift == frames.min()
    assert scaler(frames).min() == 0.0 and scaler(frames).max() == pytest.approx(1.0)
    assert scaler(store.get(3)).max() == 1.0  # the test utterance is clipped, not rescaled to its range


def test_standardize_matches_the_concatenated_statistics(store):
    train = np.asarray([0, 2, 3])
    frames = np.concatenate([store.get(r) for r in train]).astype(np.float64)
    scaler = input_pipeline.fit_scaler("standardize", store, train)
    assert scaler.shift == pytest.approx(frames.mean(), rel=1e-9)
    assert scaler.scale == pytest.approx(1.0 / frames.std(), rel=1e-9)
    assert input_pipeline.fit_scaler("none", store, train)(frames[:2]) == pytest.approx(frames[:2])
    with pytest.raises(ValueError):
        input_pipeline.fit_scaler("robust", store, train)
