"""Evaluation windows: a longer utterance's class probabilities and embedding are the mean of
its windows' (start … end), computed here one utterance and one window at a time."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs import test as test_config
from ser_jax import evaluation, feature_cache, features, input_pipeline, method, metrics, protocols, steps, train
from ser_jax.corpora import load_corpus
from ser_jax.errors import SerJaxError


def test_window_start_spreads_windows_from_start_to_end():
    assert [input_pipeline.window_start(100, 40, w, 3) for w in range(3)] == [0, 30, 60]
    assert [input_pipeline.window_start(100, 40, w, 4) for w in range(4)] == [0, 20, 40, 60]
    assert input_pipeline.window_start(30, 40, 2, 3) == 0  # not longer than the crop: its start
    assert input_pipeline.window_start(100, 40, 0, 1) == 0


def test_split_pass_averages_the_windows_of_longer_utterances(emodb_root, cache_dir):
    config = test_config.get_config()
    config.data.root, config.cache_dir = str(emodb_root), str(cache_dir)
    config.features.crop_seconds = 0.0  # variable length, cut per fold
    config.train.crop_percentile = 25.0  # most utterances are longer than the crop
    config.train.eval_windows = 3
    corpus = load_corpus(config.data, config.cache_dir)
    store = feature_cache.load_or_compute(corpus, features.FeatureParams.from_config(config.features),
                                          config.cache_dir, workers=1, progress=False)
    fold = protocols.make_folds(config.protocol, corpus)[0]
    ctx = train._prepare(config, corpus, store, fold, None)
    source = ctx.sources["test"]
    batch = next(input_pipeline.eval_batches(ctx.sources["train"], config.train.batch_size))
    state = steps.create_train_state(ctx.method, ctx.num_classes, optax.sgd(0.1), jax.random.PRNGKey(0), batch)

    done = evaluation.split_pass(ctx, state, "test")

    crop = source.shape.crop_frames
    lengths = store.lengths[source.records]
    assert 0 < (lengths > crop).sum() < len(source)  # both kinds are present
    expected_p, expected_e = [], []
    for i in range(len(source)):
        outs = []
        for w in range(3 if lengths[i] > crop else 1):
            x, n = source.features_of(np.asarray([i]), window=w)
            out = state.apply_fn({"params": state.params, "batch_stats": state.batch_stats}, jnp.asarray(x),
                                 jnp.asarray(n), train=False)
            outs.append((np.asarray(jax.nn.softmax(out["logits"][0])), np.asarray(out["embedding"][0])))
        expected_p.append(np.mean([p for p, _ in outs], axis=0))
        expected_e.append(np.mean([e for _, e in outs], axis=0))
    np.testing.assert_allclose(done["probabilities"], expected_p, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(done["embeddings"], expected_e, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(done["sums"]["confusion"], metrics.confusion_matrix(
        source.labels, np.argmax(expected_p, axis=1), ctx.num_classes))
    assert np.asarray(done["sums"]["confusion"]).sum() == len(source)
    start_only = evaluation.split_pass(ctx, state, "", input_pipeline.dataclasses.replace(
        source, shape=input_pipeline.dataclasses.replace(source.shape, windows=1)))
    longer = lengths > crop
    assert not np.allclose(start_only["embeddings"][longer], done["embeddings"][longer])  # the windows count
    np.testing.assert_allclose(start_only["embeddings"][~longer], done["embeddings"][~longer], rtol=1e-5, atol=1e-6)


def test_eval_windows_below_one_are_refused_naming_the_key():
    config = test_config.get_config()
    config.train.eval_windows = 0
    params = features.FeatureParams.from_config(config.features)
    with pytest.raises(SerJaxError, match=r"--config\.train\.eval_windows=0"):
        input_pipeline.InputShape.from_config(config.train, params)
    config.train.eval_windows = 3  # configs/test.py: fixed 1 s features, no per-fold crop to take windows of
    with pytest.raises(SerJaxError, match=r"--config\.train\.eval_windows=3 .*crop_percentile"):
        method.check(config)
