"""The feature cache: extract once, reuse, recompute on any parameter change."""

import dataclasses

import numpy as np

from ser_jax import feature_cache, features

SMALL = dataclasses.replace(features.PRESETS["tripathi_mel"], crop_seconds=1.0, n_mels=32)


def test_second_call_does_no_extraction(emodb, tmp_path):
    first = feature_cache.load_or_compute(emodb, SMALL, tmp_path, workers=1, progress=False)
    stamp = (first.path / "features.npy").stat().st_mtime_ns
    second = feature_cache.load_or_compute(emodb, SMALL, tmp_path, workers=1, progress=False)
    assert first.computed and not second.computed
    assert second.path == first.path and (second.path / "features.npy").stat().st_mtime_ns == stamp
    assert isinstance(second.data, np.memmap) and second.data.shape == (535, 32, 32)
    i = 7
    expected = features.extract(emodb.waveform(i), SMALL)
    np.testing.assert_array_equal(second.get(int(emodb.record_index[i])), expected)


def test_changed_parameter_recomputes(emodb, tmp_path):
    a = feature_cache.load_or_compute(emodb, SMALL, tmp_path, workers=1, progress=False)
    b = feature_cache.load_or_compute(emodb, dataclasses.replace(SMALL, hop_length=256), tmp_path,
                                      workers=1, progress=False)
    assert b.computed and b.path != a.path and b.data.shape == (535, 63, 32)
    assert sorted(p.name for p in (tmp_path / "features").iterdir()) == sorted([a.path.name, b.path.name])


def test_parallel_workers_write_the_same_variable_length_arrays(emodb, tmp_path):
    params = dataclasses.replace(features.PRESETS["dai_mel"], n_mels=16)
    serial = feature_cache.load_or_compute(emodb, params, tmp_path / "a", workers=1, progress=False)
    parallel = feature_cache.load_or_compute(emodb, params, tmp_path / "b", workers=2, progress=False)
    assert serial.offsets is not None and serial.offsets[-1] == serial.data.shape[0]
    np.testing.assert_array_equal(serial.lengths, parallel.lengths)
    # extract runs BLAS single-threaded wherever it is called: identical values
    np.testing.assert_array_equal(np.asarray(serial.data), np.asarray(parallel.data))
    assert serial.get(3).shape == (201, 16)
    leftovers = [p for p in (tmp_path / "b" / "features").iterdir() if p.name.startswith(".tmp")]
    assert leftovers == []


def test_failed_extraction_leaves_no_entry(emodb, tmp_path, monkeypatch):
    calls = {"n": 0}
    real = features.extract

    def failing(y, p):  # the real extractor, interrupted part-way as a crash would
        calls["n"] += 1
        if calls["n"] > 40:
            raise KeyboardInterrupt
        return real(y, p)

    monkeypatch.setattr(features, "extract", failing)
    try:
        feature_cache.load_or_compute(emodb, SMALL, tmp_path, workers=1, progress=False)
    except KeyboardInterrupt:
        pass
    assert list((tmp_path / "features").iterdir()) == []
    monkeypatch.setattr(features, "extract", real)
    assert feature_cache.load_or_compute(emodb, SMALL, tmp_path, workers=1, progress=False).computed
