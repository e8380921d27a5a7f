"""The feature cache: extract once, reuse, recompute on any parameter change."""

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest

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


def _entry(emodb, tmp_path, params=SMALL):
    store = feature_cache.load_or_compute(emodb, params, tmp_path, workers=1, progress=False)
    return store.path, np.asarray(store.data).copy()


def _reopen(emodb, tmp_path, params=SMALL):
    said = []
    store = feature_cache.load_or_compute(emodb, params, tmp_path, workers=1, progress=False, out=said.append)
    return store, said


@pytest.mark.parametrize("damage", ["overwrite", "nan", "truncate", "empty", "missing"])
def test_a_damaged_entry_is_found_said_and_rebuilt(emodb, tmp_path, damage):
    path, clean = _entry(emodb, tmp_path)
    target = path / "features.npy"
    if damage in ("overwrite", "nan"):
        data = np.load(target, mmap_mode="r+")  # in place, as a stray writer would
        data[100:110] = np.nan if damage == "nan" else data[200:210]
        data.flush()
        del data
    elif damage == "truncate":
        target.write_bytes(target.read_bytes()[:-1000])
    elif damage == "empty":
        (path / "lengths.npy").write_bytes(b"")
    else:
        (path / "checksums.npy").unlink()
    store, said = _reopen(emodb, tmp_path)
    assert store.computed and len(said) == 1 and "is damaged" in said[0] and str(path) in said[0]
    np.testing.assert_array_equal(np.asarray(store.data), clean)


def test_an_intact_entry_is_opened_silently(emodb, tmp_path):
    _entry(emodb, tmp_path, features.PRESETS["dai_mel"])  # variable length: frames.npy and offsets
    store, said = _reopen(emodb, tmp_path, features.PRESETS["dai_mel"])
    assert not store.computed and said == []


def test_a_build_folder_left_by_a_killed_process_is_removed(emodb, tmp_path):
    folder = tmp_path / "features"
    folder.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    abandoned = folder / f".tmp-emodb-abc-{dead.pid}-0123abcd"
    abandoned.mkdir()
    running = folder / f".tmp-emodb-abc-{os.getpid()}-4567abcd"  # a build in progress: kept
    running.mkdir()
    feature_cache.load_or_compute(emodb, SMALL, tmp_path, workers=1, progress=False)
    assert not abandoned.exists() and running.exists()
