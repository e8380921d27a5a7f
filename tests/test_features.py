"""Feature functions against direct librosa calls, preset shapes, train-only scaling."""

import dataclasses

import librosa
import numpy as np
import pytest

from audio_files import tone
from ser_jax import features
from ser_jax.errors import SerJaxError

P = features.PRESETS


@pytest.fixture(scope="module")
def speech(emodb):
    return emodb.waveform(0)  # a real EmoDB utterance at 16 kHz


def test_logmel_equals_librosa(speech):
    y = np.pad(speech, (0, 96000 - speech.size))[:96000]
    mel = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=2048, hop_length=512, win_length=2048,
                                         window="hann", n_mels=128, power=2.0)
    expected = librosa.power_to_db(mel).T  # librosa's defaults: ref 1, amin 1e-10, top_db 80
    np.testing.assert_allclose(features.extract(speech, P["tripathi_mel"]), expected, rtol=1e-5, atol=1e-3)


def test_mfcc_equals_librosa(speech):
    y = np.pad(speech, (0, 96000 - speech.size))[:96000]
    expected = librosa.feature.mfcc(y=y, sr=16000, n_mfcc=40, n_fft=2048, hop_length=512,
                                    window="hann", n_mels=128).T
    np.testing.assert_allclose(features.extract(speech, P["tripathi_mfcc"]), expected, rtol=1e-4, atol=1e-2)


def test_stft_db_equals_librosa(speech):
    mag = np.abs(librosa.stft(speech, n_fft=1024, hop_length=160, win_length=640, window="hamming"))
    expected = librosa.amplitude_to_db(mag, ref=1.0, amin=1e-10, top_db=80.0).T
    np.testing.assert_allclose(features.extract(speech, P["dai_stft"]), expected, rtol=1e-5, atol=1e-3)


def test_stft_ln_equals_numpy_log_of_librosa(speech):
    y = speech[:64000]
    mag = np.abs(librosa.stft(y, n_fft=512, hop_length=160, win_length=320, window="hamming"))
    expected = np.log(mag + 1e-6).T
    expected = np.maximum(expected, expected.max() - 4 * np.log(10))  # 80 dB of magnitude below the maximum
    out = features.extract(speech, P["lian_stft"])
    np.testing.assert_allclose(out[:expected.shape[0]], expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("name", sorted(n for n in P if P[n].kind != "egemaps"))
def test_digital_silence_is_floored_80_db_below_the_utterance_maximum(name):
    """Exact zeros (3 % of EmoDB's frames) gave −100 to −200 dB outliers in 001's and 002's
    presets; every log feature now spans at most 80 dB."""
    y = np.concatenate([tone(0.7, 16000), np.zeros(8000, np.float32), tone(0.7, 16000)])
    p = dataclasses.replace(P[name], kind="logmel" if P[name].kind == "mfcc" else P[name].kind)
    out = features.extract(y, p)
    span = out.max() - out.min()
    if p.log == "db":
        assert span <= 80.0 + 1e-3
    else:  # natural log of magnitudes: 80 dB is 4 decades
        assert span <= 4 * np.log(10) + 1e-4
    assert span > 20.0 if p.log == "db" else span > 2.0  # the silence is there, at the floor


@pytest.mark.parametrize("name, seconds, shape", [
    ("tripathi_mel", 2.0, (188, 128)), ("tripathi_mel", 9.0, (188, 128)),
    ("tripathi_mfcc", 2.0, (188, 40)), ("tripathi_mfcc", 6.0, (188, 40)),
    ("lian_stft", 4.0, (400, 257)), ("lian_stft", 1.5, (400, 257)), ("lian_stft", 7.0, (400, 257)),
    ("dai_mel", 2.0, (201, 128)), ("dai_stft", 3.3, (1 + 52800 // 160, 513)),
])
def test_preset_shapes(name, seconds, shape):
    y = tone(seconds, 16000)
    out = features.extract(y, P[name])
    assert out.shape == shape and out.dtype == np.float32
    assert features.num_frames(y.size, P[name]) == shape[0]


def test_lian_short_clip_is_padded_with_its_last_frame():
    out = features.extract(tone(1.0, 16000), P["lian_stft"])
    natural = 1 + 16000 // 160
    assert np.all(out[natural:] == out[natural - 1])
    assert not np.allclose(out[natural - 1], out[natural - 2])


def test_tripathi_short_clip_is_zero_padded_waveform():
    out = features.extract(tone(1.0, 16000), P["tripathi_mel"])
    assert np.allclose(out[-50:], out.max() - 80.0)  # zero-padded tail sits on the top_db floor


@pytest.mark.parametrize("name", ["tripathi_mel", "dai_stft", "lian_stft"])
def test_magnitude_skips_only_frames_that_are_exactly_zero(speech, name):
    """Zero tails (padding to 6 s, or trailing digital silence) are filled, not computed:
    bit for bit librosa's |STFT| of the whole waveform."""
    p = P[name]
    quiet_end = np.concatenate([speech[:20000], np.zeros(13001, np.float32)])
    for y in (features.fit_waveform(speech, P["tripathi_mel"]), quiet_end, speech):
        full = np.abs(librosa.stft(y, n_fft=p.n_fft, hop_length=p.hop_length, win_length=p.win_length,
                                   window=p.window))
        np.testing.assert_array_equal(features.magnitude(y, p), full)


def test_egemaps_are_opensmiles_88_functionals_of_the_whole_utterance(speech):
    """One row of eGeMAPSv02 functionals per utterance, whatever its length: the first is the
    mean F0 in semitones above 27.5 Hz, which for EmoDB speech lies in the voice's range."""
    p = P["egemaps"]
    out = features.extract(speech, p)
    assert out.shape == (1, 88) and out.dtype == np.float32 and np.all(np.isfinite(out))
    assert features.num_frames(speech.size, p) == 1 and list(features.valid_frames([speech.size, 9], p)) == [1, 1]
    f0_semitones = out[0, 0]
    assert 15 < f0_semitones < 50  # 65–500 Hz
    np.testing.assert_array_equal(features.extract(speech, p), out)  # deterministic
    low = features.extract(librosa.effects.pitch_shift(speech, sr=16000, n_steps=-4), p)
    assert low[0, 0] < f0_semitones - 2  # pitched down 4 semitones: the F0 functional follows
    with pytest.raises(SerJaxError, match="crop_seconds must be 0"):
        dataclasses.replace(p, crop_seconds=2.0)


def test_bad_parameters_are_named():
    with pytest.raises(SerJaxError, match="kind 'cqt'"):
        dataclasses.replace(P["dai_mel"], kind="cqt")
    with pytest.raises(SerJaxError, match="win_length 4096"):
        dataclasses.replace(P["dai_mel"], win_length=4096)
    with pytest.raises(SerJaxError, match="unknown feature preset"):
        features.preset("nope")


def test_config_round_trip():
    assert features.FeatureParams.from_config(features.preset("lian_stft")) == P["lian_stft"]
