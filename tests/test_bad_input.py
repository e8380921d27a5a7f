"""Bad input on real files the tests write: named errors, or counted and listed skips."""

import numpy as np
import pytest
import soundfile as sf

from audio_files import tone, write_wav
from configs import base
from ser_jax import audio
from ser_jax.corpora import load_corpus, manifest


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000])
def test_any_bit_depth_and_rate_becomes_16k_float(tmp_path, subtype, rate):
    path = write_wav(tmp_path / "a.wav", tone(1.0, rate, freq=440.0), rate, subtype)
    wav, info = audio.load_audio(path)
    assert wav.dtype == np.float32 and wav.shape == (16000,)
    assert info.source_rate == rate and info.subtype == subtype
    spectrum = np.abs(np.fft.rfft(wav))
    assert np.argmax(spectrum) == pytest.approx(440, abs=1)  # 1 Hz bins over 1 s: pitch kept
    assert np.abs(wav).max() == pytest.approx(0.5, abs=0.02)


def test_stereo_is_averaged_to_mono(tmp_path):
    left, right = tone(0.5, 16000, 300.0), tone(0.5, 16000, 500.0)
    path = write_wav(tmp_path / "s.wav", np.stack([left, right], axis=1))
    wav, info = audio.load_audio(path)
    assert info.channels == 2
    np.testing.assert_allclose(wav, (left + right) / 2, atol=1e-4)


def test_float_beyond_unit_range_is_rescaled_by_peak(tmp_path):
    path = write_wav(tmp_path / "loud.wav", 3 * tone(0.5, 16000), subtype="FLOAT")
    wav, info = audio.load_audio(path)
    assert info.peak_rescaled and np.abs(wav).max() == pytest.approx(1.0, abs=1e-4)


def _bad_files(d):
    """name → (path, reason) of one real file per failure."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(200)))
    (d / "text.wav").write_text("this is not audio\n")
    nan = tone(0.5, 16000)
    nan[100] = np.nan
    return {
        "corrupt": (d / "corrupt.wav", "unreadable"),
        "non_audio": (d / "text.wav", "unreadable"),
        "empty": (write_wav(d / "empty.wav", np.zeros(0, np.float32)), "empty"),
        "silent": (write_wav(d / "silent.wav", np.zeros(16000, np.float32)), "silent"),
        "too_short": (write_wav(d / "short.wav", tone(0.05, 16000)), "too_short"),
        "nan": (write_wav(d / "nan.wav", nan, subtype="FLOAT"), "non_finite"),
    }


@pytest.mark.parametrize("case", ["corrupt", "non_audio", "empty", "silent", "too_short", "nan"])
def test_bad_file_error_names_file_reason_and_fix(tmp_path, case):
    path, reason = _bad_files(tmp_path)[case]
    with pytest.raises(audio.AudioError) as err:
        audio.load_audio(path)
    assert err.value.reason == reason and err.value.path == str(path)
    assert str(path) in str(err.value) and "Fix:" in str(err.value)


def _manifest_config(csv_path, cache):
    config = base.get_config()
    config.data.corpus = "manifest"
    config.data.manifest = str(csv_path)
    config.cache_dir = str(cache)
    return config


def test_manifest_corpus_keeps_good_files_and_lists_every_bad_one(tmp_path):
    bad = _bad_files(tmp_path / "audio")
    good = [write_wav(tmp_path / "audio" / f"ok{i}.wav", tone(0.8, 22050, 200 + 100 * i), 22050)
            for i in range(4)]
    lines = ["path,label,speaker,session"]
    lines += [f"audio/{p.name},{lab},spk{i % 2},s1" for i, (p, lab) in enumerate(zip(good, ["calm", "angry"] * 2))]
    lines += [f"{p},angry,spk9,s1" for p, _ in bad.values()]  # absolute paths work too
    lines += ["audio/missing.wav,calm,spk1,s1", "audio/ok0.wav,,spk1,s1", "audio/ok0.wav,calm,spk0,s1"]
    csv_path = tmp_path / "corpus.csv"
    csv_path.write_text("\n".join(lines) + "\n")
    corpus = load_corpus(_manifest_config(csv_path, tmp_path / "cache").data, tmp_path / "cache")
    assert len(corpus) == 4 and corpus.classes == ("angry", "calm")
    assert corpus.adjusted == {"resampled from 22050 Hz": 4}
    reasons = sorted(s["reason"] for s in corpus.skipped)
    assert reasons == sorted([r for _, r in bad.values()] + ["missing_audio", "unparsable_row", "duplicate"])
    listed = {s["path"] for s in corpus.skipped}
    assert {str(p) for p, _ in bad.values()} <= listed


def test_manifest_label_outside_chosen_classes_is_listed(tmp_path):
    wavs = [write_wav(tmp_path / f"{i}.wav", tone(0.5, 16000, freq=300.0 + 100 * i)) for i in range(3)]  # 3 recordings
    csv_path = tmp_path / "m.csv"
    csv_path.write_text("path,label,speaker\n" + "".join(
        f"{w.name},{lab},a\n" for w, lab in zip(wavs, ["x", "y", "z"])))
    config = _manifest_config(csv_path, tmp_path / "cache")
    config.data.classes = ("x", "y")
    corpus = load_corpus(config.data, config.cache_dir)
    assert len(corpus) == 2
    assert [s["reason"] for s in corpus.skipped] == ["excluded_label"]


def test_manifest_file_errors(tmp_path):
    with pytest.raises(manifest.ManifestError, match="does not exist.*--config.data.manifest"):
        load_corpus(_manifest_config(tmp_path / "none.csv", tmp_path).data, tmp_path)
    csv_path = tmp_path / "m.csv"
    csv_path.write_text("file,emotion\na.wav,x\n")
    with pytest.raises(manifest.ManifestError, match=r"lacks column\(s\) path, label, speaker"):
        load_corpus(_manifest_config(csv_path, tmp_path).data, tmp_path)


def test_soundfile_can_read_what_the_tests_write(tmp_path):
    # Guards the fixtures themselves: the "good" files must really be valid audio.
    path = write_wav(tmp_path / "x.wav", tone(0.3, 16000), subtype="PCM_24")
    assert sf.info(str(path)).subtype == "PCM_24"


def test_an_mp3_that_is_no_audio_is_called_unreadable_not_missing(tmp_path):
    fake = tmp_path / "fake.mp3"
    fake.write_bytes(b"ID3\x03\x00\x00\x00garbage")
    with pytest.raises(audio.AudioError) as err:
        audio.load_audio(fake)
    assert err.value.reason == "unreadable" and "does not exist" not in err.value.detail and ".mp3" in err.value.detail
    with pytest.raises(audio.AudioError) as err:
        audio.load_audio(tmp_path / "gone.wav")
    assert err.value.reason == "missing"


def test_hours_of_audio_in_a_small_file_are_refused_before_decoding(tmp_path):
    # 11 minutes of DC at 8 kHz, FLAC: a few KB on disk, 21 MB once decoded (an hour: 470 MB)
    path = tmp_path / "dc.flac"
    with sf.SoundFile(str(path), "w", samplerate=8000, channels=1, format="FLAC", subtype="PCM_16") as f:
        block = np.full(8000 * 60, 0.25, np.float32)
        for _ in range(11):
            f.write(block)
    assert path.stat().st_size < 200_000
    with pytest.raises(audio.AudioError) as err:
        audio.load_audio(path)
    assert err.value.reason == "too_long" and "600 s maximum" in err.value.detail
    wav, _ = audio.load_audio(path, max_duration_s=0)  # no limit: read
    assert wav.shape[0] == 16000 * 660


def test_lock_files_are_never_followed(tmp_path):
    from ser_jax import locking
    from ser_jax.errors import SerJaxError
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    (tmp_path / ".lock").symlink_to(victim)
    with pytest.raises(SerJaxError, match="is a symbolic link"):
        with locking.exclusive(tmp_path / ".lock", wait=False):
            pass
    assert victim.read_text() == "keep me"
    with locking.exclusive(tmp_path / "real.lock", wait=False):
        with pytest.raises(locking.Busy):
            with locking.exclusive(tmp_path / "real.lock", wait=False):
                pass
