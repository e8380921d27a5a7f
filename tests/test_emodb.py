"""EmoDB from the real copy under $SER_JAX_DATA/emodb."""

import collections

import numpy as np
import pytest

from ser_jax.corpora import emodb, load_corpus

EXPECTED_PER_CLASS = {"anger": 127, "boredom": 81, "neutral": 79, "happiness": 71,
                      "fear": 69, "sadness": 62, "disgust": 46}
EXPECTED_PER_SPEAKER = {"03": 49, "08": 58, "09": 43, "10": 38, "11": 55, "12": 35,
                        "13": 61, "14": 69, "15": 56, "16": 71}


def test_counts_speakers_and_classes(emodb):
    assert len(emodb) == 535
    names = np.asarray(emodb.classes)[emodb.labels]
    assert dict(collections.Counter(names.tolist())) == EXPECTED_PER_CLASS
    assert dict(collections.Counter(emodb.speakers.tolist())) == EXPECTED_PER_SPEAKER
    assert emodb.skipped == ()


def test_audio_is_16k_int16_mono(emodb):
    # The original recordings are 16 kHz mono 16-bit: nothing needed converting.
    assert emodb.adjusted == {}
    assert 1.2 < float(emodb.durations.min()) < 1.3 and 8.9 < float(emodb.durations.max()) < 9.0
    record = emodb.records[0]
    assert record["audio"].dtype == np.int16 and record["audio"].ndim == 1
    assert record["num_samples"] == record["audio"].shape[0]
    assert record["duration"] == pytest.approx(record["num_samples"] / 16000)
    wav = emodb.waveform(0)
    assert wav.dtype == np.float32 and np.abs(wav).max() <= 1.0 and np.abs(wav).max() > 0.01


def test_file_names_give_ids_and_labels(emodb):
    i = int(np.flatnonzero(emodb.utt_ids == "03a01Fa")[0])
    assert emodb.classes[emodb.labels[i]] == "happiness" and emodb.speakers[i] == "03"


def test_class_subset_relabels_and_lists_the_rest(emodb_config):
    config = emodb_config.copy_and_resolve_references()
    config.data.classes = ("anger", "happiness", "neutral", "sadness")
    corpus = load_corpus(config.data, config.cache_dir)
    assert len(corpus) == 339 and corpus.classes == ("anger", "happiness", "neutral", "sadness")
    assert np.bincount(corpus.labels).tolist() == [127, 71, 79, 62]
    assert len(corpus.skipped) == 535 - 339
    assert {s["reason"] for s in corpus.skipped} == {"excluded_label"}


def test_second_load_reuses_the_build(emodb, emodb_config):
    again = load_corpus(emodb_config.data, emodb_config.cache_dir)
    assert again.data_dir == emodb.data_dir and again.fingerprint == emodb.fingerprint


def test_missing_folder_says_how_to_fix(tmp_path, emodb_config):
    config = emodb_config.copy_and_resolve_references()
    config.data.root = str(tmp_path / "nowhere")
    with pytest.raises(emodb.EmodbError, match=r"nowhere does not exist.*--config\.data\.root"):
        load_corpus(config.data, str(tmp_path))


def test_offline_without_folder_is_one_clear_error(tmp_path, emodb_config):
    config = emodb_config.copy_and_resolve_references()
    config.data.root = ""
    config.data.download_url = "http://127.0.0.1:9/download.zip"  # nothing listens: refused at once
    # https is tried first, then the address as given; both failures are named
    with pytest.raises(emodb.EmodbError, match=r"downloading failed \(https://127.0.0.1:9/download.zip: .*"
                                                r"http://127.0.0.1:9/download.zip: .*--config\.data\.root.*SER_JAX_DATA"):
        load_corpus(config.data, str(tmp_path))


def test_an_archive_that_would_expand_beyond_emodb_is_not_extracted(tmp_path, monkeypatch):
    import zipfile
    bomb = tmp_path / "download.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("wav/big.wav", b"\0" * (8 * 1024 ** 2))  # 8 MB of zeros: a few KB packed
    monkeypatch.setattr(emodb, "MAX_ARCHIVE_BYTES", 4 * 1024 ** 2)
    with pytest.raises(emodb.EmodbError, match="would expand to 1 files .*not extracted"):
        emodb.check_archive(bomb)
    monkeypatch.setattr(emodb, "MAX_ARCHIVE_BYTES", 16 * 1024 ** 2)
    emodb.check_archive(bomb)  # within the limits
    (tmp_path / "not.zip").write_bytes(b"<html>not found</html>")
    with pytest.raises(emodb.EmodbError, match="is not a zip archive"):
        emodb.check_archive(tmp_path / "not.zip")
    assert emodb.candidate_urls("http://host/a.zip") == ["https://host/a.zip", "http://host/a.zip"]
    assert emodb.candidate_urls("https://host/a.zip") == ["https://host/a.zip"]
