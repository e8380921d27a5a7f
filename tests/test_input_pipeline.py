"""Input scaling fitted on the training fold only, one utterance at a time."""

import dataclasses
from pathlib import Path

import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from configs import test as test_config
from ser_jax import feature_cache, features, input_pipeline, method
from ser_jax.errors import SerJaxError
from ser_jax.signals.softmax import Softmax


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


def _all_frames(store, records):
    return np.asarray([store.lengths[r] for r in records])


def test_minmax_uses_training_utterances_only(store):
    train = np.asarray([0, 1, 2])
    frames = np.concatenate([store.get(r) for r in train])
    scaler = input_pipeline.fit_scaler("minmax", store, train, _all_frames(store, train), per_bin=False)
    assert scaler.shift == (frames.min(),)
    assert scaler(frames).min() == 0.0 and scaler(frames).max() == pytest.approx(1.0)
    assert scaler(store.get(3)).max() == 1.0  # the test utterance is clipped, not rescaled to its range


def test_standardize_matches_the_concatenated_statistics(store):
    train = np.asarray([0, 2, 3])
    frames = np.concatenate([store.get(r) for r in train]).astype(np.float64)
    scaler = input_pipeline.fit_scaler("standardize", store, train, _all_frames(store, train), per_bin=False)
    assert scaler.shift[0] == pytest.approx(frames.mean(), rel=1e-9)
    assert scaler.scale[0] == pytest.approx(1.0 / frames.std(), rel=1e-9)
    assert input_pipeline.fit_scaler("none", store, train, _all_frames(store, train))(frames[:2]) == \
        pytest.approx(frames[:2])
    with pytest.raises(SerJaxError, match=r"--config.train.input_scaling='robust' is not one of minmax \| standardize"):
        input_pipeline.fit_scaler("robust", store, train, _all_frames(store, train))


def test_per_bin_scaling_gives_every_bin_the_same_range_and_spread():
    """Like MFCCs: bin 0 varies 100 times more than bin 1. One scalar for all bins left the
    small bin nearly constant after scaling (c10 had std 0.013); per bin, every bin spans [0, 1]
    or has unit variance."""
    rng = np.random.default_rng(0)
    spread = np.asarray([100.0, 1.0, 10.0])
    store = _store([rng.normal(0, 1, (n, 3)) * spread + [50.0, -3.0, 0.0] for n in (40, 30, 50)])
    train = np.arange(3)
    frames = np.concatenate([store.get(r) for r in train])
    minmax = input_pipeline.fit_scaler("minmax", store, train, _all_frames(store, train))(frames)
    np.testing.assert_allclose(minmax.min(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(minmax.max(axis=0), 1.0, atol=1e-6)
    standard = input_pipeline.fit_scaler("standardize", store, train, _all_frames(store, train))(frames)
    np.testing.assert_allclose(standard.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(standard.std(axis=0), 1.0, atol=1e-5)


def test_scaling_statistics_leave_out_the_padding_of_fixed_length_inputs():
    """A fixed-length input pads a short utterance (here: 60 frames of audio, then the
    floor value −80 up to 100 frames); the padding must not enter the statistics."""
    rng = np.random.default_rng(1)
    audio = [rng.normal(0, 1, (60, 4)), rng.normal(0, 1, (100, 4))]
    padded = [np.concatenate([audio[0], np.full((40, 4), -80.0)]), audio[1]]
    store = _store(padded)
    valid = np.asarray([60, 100])
    scaler = input_pipeline.fit_scaler("standardize", store, np.arange(2), valid)
    frames = np.concatenate(audio)
    np.testing.assert_allclose(scaler.shift, frames.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(scaler.scale, 1.0 / frames.std(axis=0), rtol=1e-6)
    lo = input_pipeline.fit_scaler("minmax", store, np.arange(2), valid).shift
    np.testing.assert_allclose(lo, frames.min(axis=0))  # not −80


def test_valid_frames_stop_where_a_fixed_length_input_is_padded():
    p = features.PRESETS["tripathi_mel"]  # 6 s, hop 512: 188 frames
    np.testing.assert_array_equal(features.valid_frames([16000, 96000, 160000], p), [32, 188, 188])
    v = features.PRESETS["dai_mel"]  # variable length: every frame holds audio
    np.testing.assert_array_equal(features.valid_frames([16000], v), [features.num_frames(16000, v)])


def test_crop_to_a_percentile_length_random_in_training_from_the_start_in_evaluation(store):
    """The store's utterances have 30, 12, 25 and 40 frames."""
    assert input_pipeline.crop_frames_of(store.lengths, 75) == int(np.ceil(np.percentile([30, 12, 25, 40], 75)))
    scaler = input_pipeline.Scaler("none", (0.0,), (1.0,))
    shape = input_pipeline.InputShape(False, crop_frames=20)
    evaluation = input_pipeline.Source(store, np.arange(4), np.zeros(4, np.int32), scaler, shape)
    x, lengths = evaluation.features_of(np.arange(4), np.random.default_rng(0))
    assert x.shape == (4, 20, 8) and lengths.tolist() == [20, 12, 20, 20]
    np.testing.assert_array_equal(x[0], store.get(0)[:20])  # evaluation: the start, whatever the rng
    np.testing.assert_array_equal(x[1, :12], store.get(1)) and not x[1, 12:].any()  # short: zero-padded
    training = input_pipeline.Source(store, np.arange(4), np.zeros(4, np.int32), scaler,
                                     dataclasses.replace(shape, random_crop=True))
    starts = set()
    for seed in range(8):
        x, _ = training.features_of(np.asarray([3]), np.random.default_rng(seed))
        full = store.get(3)
        start = next(s for s in range(21) if np.array_equal(full[s:s + 20], x[0]))
        starts.add(start)
    assert len(starts) > 2  # a 40-frame utterance is cut at different offsets
    again, _ = training.features_of(np.asarray([3]), np.random.default_rng(5))
    first, _ = training.features_of(np.asarray([3]), np.random.default_rng(5))
    np.testing.assert_array_equal(again, first)  # the same rng state gives the same crop


def test_spec_augment_masks_training_batches_only_within_the_true_length(store):
    augment = input_pipeline.SpecAugment(time_masks=2, max_time=5, freq_masks=1, max_freq=3)
    scaler = input_pipeline.Scaler("none", (1.0,), (1.0,))  # every value ≠ 0 unless masked: (x − 1)·1
    shape = input_pipeline.InputShape(False, bucket_frames=10)
    source = input_pipeline.Source(store, np.arange(4), np.zeros(4, np.int32), scaler, shape, augment=augment)
    plain = dataclasses.replace(source, augment=None)
    idx = np.arange(4)
    x, lengths = source.features_of(idx, np.random.default_rng(0))
    ref, _ = plain.features_of(idx, np.random.default_rng(0))
    changed = (x != ref)
    assert changed.any() and not x[changed].any()  # masks only zero values
    for j, n in enumerate(lengths):
        assert not changed[j, n:].any()  # the padding past the true length is untouched
        # every change is a whole masked frame (≤ 2 bands of ≤ 5) or a whole masked bin (≤ 3)
        rows, cols = changed[j, :n].all(axis=1), changed[j, :n].all(axis=0)
        assert rows.sum() <= 10 and cols.sum() <= 3
        assert np.array_equal(changed[j, :n], rows[:, None] | cols[None, :])
    again, _ = source.features_of(idx, np.random.default_rng(0))
    np.testing.assert_array_equal(again, x)  # the same generator state, the same masks
    untouched, _ = source.features_of(idx)  # evaluation (no generator): no masks
    np.testing.assert_array_equal(untouched, ref)
    assert input_pipeline.SpecAugment.from_config(
        ml_collections.ConfigDict({"time_masks": 0, "max_time": 10, "freq_masks": 0, "max_freq": 8})) is None


def test_freq_warp_stretches_the_frequency_axis_by_linear_interpolation():
    f = np.asarray([[0.0, 10.0, 20.0, 30.0, 40.0]], np.float32)
    # factor 2: output bin j reads source bin j / 2 (0, 0.5, 1, 1.5, 2)
    np.testing.assert_allclose(input_pipeline.freq_warp(f, 2.0), [[0.0, 5.0, 10.0, 15.0, 20.0]])
    # factor 0.8: sources 0, 1.25, 2.5, 3.75, 5 → the last bin's source lies past bin 4: repeated
    np.testing.assert_allclose(input_pipeline.freq_warp(f, 0.8), [[0.0, 12.5, 25.0, 37.5, 40.0]])
    np.testing.assert_array_equal(input_pipeline.freq_warp(f, 1.0), f)


def test_freq_warp_changes_training_batches_only(store):
    scaler = input_pipeline.Scaler("none", (0.0,), (1.0,))
    shape = input_pipeline.InputShape(False, bucket_frames=10)
    source = input_pipeline.Source(store, np.arange(4), np.zeros(4, np.int32), scaler, shape, warp=0.2)
    plain = dataclasses.replace(source, warp=0.0)
    idx = np.arange(4)
    x, lengths = source.features_of(idx, np.random.default_rng(0))
    ref, ref_lengths = plain.features_of(idx, np.random.default_rng(0))
    assert lengths.tolist() == ref_lengths.tolist()  # frames are not touched
    for j, n in enumerate(lengths):
        assert not np.allclose(x[j, :n], ref[j, :n])  # each utterance its own factor ≠ 1
        np.testing.assert_allclose(x[j, :n, 0], ref[j, :n, 0])  # bin 0 reads bin 0 whatever the factor
        assert not x[j, n:].any()
    again, _ = source.features_of(idx, np.random.default_rng(0))
    np.testing.assert_array_equal(again, x)
    untouched, _ = source.features_of(idx)  # evaluation (no generator): no warp
    np.testing.assert_array_equal(untouched, ref)
    config = test_config.get_config()
    config.train.freq_warp = 1.0  # a factor of 0 would divide by zero
    with pytest.raises(SerJaxError, match=r"--config\.train\.freq_warp=1\.0"):
        method.check(config)


def test_length_grouped_batches_sort_each_pool_and_keep_the_epochs_utterances():
    lengths = np.array([50, 10, 80, 20, 70, 30, 60, 40, 90])
    order = np.array([5, 2, 7, 0, 3, 6, 1, 4, 8])
    batches = input_pipeline.length_grouped(order, lengths, 2, 2, np.random.default_rng(0))
    # pool [5, 2, 7, 0] by length (30, 80, 40, 50) → [5, 7], [0, 2]; pool [3, 6, 1, 4]
    # (20, 60, 10, 70) → [1, 3], [6, 4]; 8 is the remainder (waits for the next epoch)
    expected = [[5, 7], [0, 2], [1, 3], [6, 4]]
    assert [b.tolist() for b in batches] == [expected[i] for i in np.random.default_rng(0).permutation(4)]


def test_training_batches_grouped_by_length_pad_less_and_see_the_same_utterances():
    rng = np.random.default_rng(1)
    frames = rng.permutation(np.arange(5, 125))[:64]  # distinct: a length names its utterance
    store = _store([rng.normal(0, 1, (n, 4)) for n in frames])
    scaler = input_pipeline.Scaler("none", (0.0,), (1.0,))
    shape = input_pipeline.InputShape(False, bucket_frames=10)
    plain = input_pipeline.Source(store, np.arange(64), np.arange(64, dtype=np.int32) % 7, scaler, shape)
    grouped = dataclasses.replace(plain, group=4)
    padded = {}
    for name, source in (("plain", plain), ("grouped", grouped)):
        batches = list(input_pipeline.train_batches(source, 8, seed=3, epoch=2))
        assert len(batches) == 8
        rows = np.concatenate([b["length"] for b in batches])
        assert sorted(rows.tolist()) == sorted(frames.tolist())  # every utterance once, whole
        padded[name] = sum(b["x"].shape[1] for b in batches)
        for b in batches:  # labels travel with their utterances
            assert [int(np.flatnonzero(frames == n)[0]) % 7 for n in b["length"]] == b["label"].tolist()
    assert padded["grouped"] < 0.8 * padded["plain"]


def test_a_negative_group_by_length_is_refused():
    config = test_config.get_config()
    config.train.group_by_length = -1
    with pytest.raises(SerJaxError, match=r"--config\.train\.group_by_length=-1"):
        method.check(config)


def test_per_utterance_normalisation_uses_each_utterances_own_valid_frames(store):
    scaler = input_pipeline.Scaler("none", (0.0,), (1.0,))
    shape = input_pipeline.InputShape(False, bucket_frames=50, per_utterance=True)
    source = input_pipeline.Source(store, np.arange(4), np.zeros(4, np.int32), scaler, shape)
    x, lengths = source.features_of(np.arange(4))
    for j, n in enumerate(lengths):
        np.testing.assert_allclose(x[j, :n].mean(axis=0), 0.0, atol=1e-5)
        np.testing.assert_allclose(x[j, :n].std(axis=0), 1.0, atol=1e-4)
        assert not x[j, n:].any()  # padding stays zero
    # utterance 3 was drawn around 5, the others around 0: after it, all sit at 0
    fitted = input_pipeline.fit_scaler("standardize", store, np.arange(4), store.lengths, per_utterance=True)
    np.testing.assert_allclose(fitted.shift, 0.0, atol=1e-6)
    np.testing.assert_allclose(fitted.scale, 1.0, atol=1e-5)


def test_per_speaker_normalisation_uses_every_utterance_of_the_speaker(store):
    speakers = np.asarray(["a", "a", "b", "b"])
    stats = input_pipeline.speaker_statistics(store, np.arange(4), store.lengths, speakers)
    frames_a = np.concatenate([store.get(0), store.get(1)]).astype(np.float64)
    np.testing.assert_allclose(stats[0], [frames_a.mean(axis=0), frames_a.std(axis=0)], rtol=1e-9)
    np.testing.assert_array_equal(stats[0], stats[1])
    scaler = input_pipeline.Scaler("none", (0.0,), (1.0,))
    source = input_pipeline.Source(store, np.arange(4), np.zeros(4, np.int32), scaler,
                                   input_pipeline.InputShape(False, bucket_frames=50), speaker_stats=stats)
    x, lengths = source.features_of(np.arange(4))
    for speaker, rows in (("a", [0, 1]), ("b", [2, 3])):
        frames = np.concatenate([x[j, :lengths[j]] for j in rows])
        np.testing.assert_allclose(frames.mean(axis=0), 0.0, atol=1e-5)  # zero mean over the speaker,
        np.testing.assert_allclose(frames.std(axis=0), 1.0, atol=1e-4)   # not over each utterance
    assert not np.allclose(x[2, :lengths[2]].mean(axis=0), 0.0, atol=1e-2)


def test_mixup_mixes_rows_with_a_dominant_label_and_the_softmax_loss_mixes_targets():
    rng = np.random.default_rng(0)
    batch = {"x": rng.normal(size=(8, 5, 3)).astype(np.float32), "label": np.arange(8, dtype=np.int32) % 4,
             "length": np.arange(1, 9, dtype=np.int32), "mask": np.ones(8, np.float32)}
    mixed = input_pipeline.mixup(batch, 0.4, np.random.default_rng(1))
    partner = np.random.default_rng(1).permutation(8)  # the same draws, in the same order
    lam = mixed["mix"]
    assert np.all(lam >= 0.5) and np.all(lam <= 1.0) and lam.dtype == np.float32
    np.testing.assert_allclose(mixed["x"], lam[:, None, None] * batch["x"] + (1 - lam[:, None, None])
                               * batch["x"][partner], rtol=1e-6)
    np.testing.assert_array_equal(mixed["label_b"], batch["label"][partner])
    np.testing.assert_array_equal(mixed["length"], np.maximum(batch["length"], batch["length"][partner]))
    np.testing.assert_array_equal(mixed["label"], batch["label"])

    # hand-computed: row 0 logits (2, 0), label 0, partner label 1, λ = 0.75:
    # 0.75·ln(1 + e^−2) + 0.25·ln(1 + e^2) = 0.626928; row 1 logits (0, 1), label 1, partner 0,
    # λ = 0.5: 0.5·ln(1 + e^−1) + 0.5·ln(1 + e^1) = 0.813262; mean 0.720095
    out = {"logits": jnp.asarray([[2.0, 0.0], [0.0, 1.0]])}
    two = {"label": jnp.asarray([0, 1]), "label_b": jnp.asarray([1, 0]), "mix": jnp.asarray([0.75, 0.5]),
           "mask": jnp.ones(2)}
    total, terms = Softmax().loss(out, two, {}, step=0)
    assert float(terms["loss/ce"]) == pytest.approx(0.720095, abs=1e-5) and float(total) == float(terms["loss/ce"])


def test_fold_sources_group_variable_length_training_batches_only(emodb_root, cache_dir):
    from ser_jax import protocols
    from ser_jax.corpora import load_corpus

    config = test_config.get_config()
    config.data.root, config.cache_dir = str(emodb_root), str(cache_dir)
    config.features.crop_seconds = 0.0  # variable length
    config.train.group_by_length = 8
    corpus = load_corpus(config.data, config.cache_dir)
    store = feature_cache.load_or_compute(corpus, features.FeatureParams.from_config(config.features),
                                          config.cache_dir, workers=1, progress=False)
    fold = protocols.make_folds(config.protocol, corpus)[0]
    sources = input_pipeline.fold_sources(config.train, corpus, store, fold)
    assert [sources[name].group for name in ("train", "val", "test")] == [8, 0, 0]
    grouped = list(input_pipeline.train_batches(sources["train"], 16, seed=0, epoch=0))
    plain = list(input_pipeline.train_batches(dataclasses.replace(sources["train"], group=0), 16, seed=0, epoch=0))
    assert len(grouped) == len(plain) == len(sources["train"]) // 16
    assert sum(b["x"].shape[1] for b in grouped) < sum(b["x"].shape[1] for b in plain)  # EmoDB: 1.2–9 s
    config.train.crop_percentile = 75.0  # one length for every batch: nothing to group
    assert input_pipeline.fold_sources(config.train, corpus, store, fold)["train"].group == 0


def test_pairs_per_epoch_scale_with_the_training_utterances_unless_fixed():
    from ser_jax.signals.pairwise import Pairwise
    assert Pairwise().batches_per_epoch(100, 8) == 37  # 3 pairs an utterance: 300 pairs, full batches only
    assert Pairwise(pairs_per_utterance=1.0).batches_per_epoch(100, 8) == 12
    assert Pairwise(pairs_per_utterance=1.0, pairs_per_epoch=64).batches_per_epoch(100, 8) == 8
    c = method.default_config()[1].pairwise
    c.update(weight=1.0, pairs_per_utterance=0.0)
    with pytest.raises(SerJaxError, match="pairs_per_utterance"):
        Pairwise.from_config(c)
