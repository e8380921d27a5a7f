"""Reading speech audio into mono float32 at the corpus sample rate.

Every corpus builder and inference goes through `load_audio`, so a bad file gets the
same named, fixable error wherever it is met. Nothing here touches configs or caches.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from ser_jax.errors import SerJaxError

SAMPLE_RATE = 16000
"""Rate of every waveform ser_jax stores (the rate all three seeds use)."""

MIN_DURATION_S = 0.1
"""Shorter clips hold fewer than ~10 analysis frames at the seeds' hops: no emotion to learn."""

_INT16_MAX = 32767


class AudioError(SerJaxError):
    """A file that cannot be used as an utterance.

    Attributes:
      path: the offending file.
      reason: short machine-friendly category (`unreadable`, `empty`, `silent`,
        `too_short`, `non_finite`).
      detail: what was found.
      fix: what the user can do about it.
    """

    def __init__(self, path, reason: str, detail: str, fix: str):
        self.path = str(path)
        self.reason = reason
        self.detail = detail
        self.fix = fix
        super().__init__(f"{self.path}: {reason}: {detail}. Fix: {fix}")


@dataclasses.dataclass(frozen=True)
class AudioInfo:
    """What was done to a file on its way to mono `SAMPLE_RATE` float32.

    Attributes:
      source_rate: sample rate found in the file.
      channels: channel count found in the file (averaged to mono when > 1).
      subtype: the file's sample encoding as soundfile reports it (PCM_16, FLOAT, ...).
      peak_rescaled: True when a float file exceeded [-1, 1] and was scaled by its peak.
    """

    source_rate: int
    channels: int
    subtype: str
    peak_rescaled: bool


MAX_DURATION_S = 600.0  # 10 minutes: far above any utterance of an emotion corpus


def load_audio(path, *, sample_rate: int = SAMPLE_RATE, min_duration_s: float = MIN_DURATION_S,
               max_duration_s: float = MAX_DURATION_S) -> tuple[np.ndarray, AudioInfo]:
    """Reads any soundfile-readable file (WAV of any bit depth, FLAC, OGG, ...).

    Args:
      path: audio file.
      sample_rate: rate to resample to (soxr, high quality).
      min_duration_s: clips shorter than this (after resampling) are refused.
      max_duration_s: files longer than this are refused from their header, before any
        decoding (a small compressed file can hold hours of samples); 0: no limit.

    Returns:
      (waveform, info): waveform float32 [num_samples] in [-1, 1], mono.

    Raises:
      AudioError: missing, unreadable/non-audio, too long, empty, silent, too short or NaN/inf samples.
    """
    path = Path(path)
    fix = "replace it with a valid WAV/FLAC/OGG file or remove it from the corpus"
    if not path.is_file():
        raise AudioError(path, "missing", "the file does not exist (or is not a regular file)",
                         "restore it, or remove it from the corpus")
    try:
        header = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        raise AudioError(path, "unreadable", f"not in an audio format libsndfile reads "
                         f"({path.suffix or 'no extension'}; WAV, FLAC, OGG/Vorbis, AIFF ... are read)", fix) from None
    seconds = header.frames / header.samplerate if header.samplerate else 0.0
    if max_duration_s and seconds > max_duration_s:
        raise AudioError(path, "too_long", f"{seconds:.0f} s is over the {max_duration_s:g} s maximum "
                         "(refused before decoding)", "cut it into utterances, or raise --config.data.max_duration_s")
    try:
        data, source_rate = sf.read(str(path), dtype="float32", always_2d=True)
        subtype = header.subtype
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        raise AudioError(path, "unreadable", f"not a readable audio file ({err})", fix) from None
    if data.shape[0] == 0:
        raise AudioError(path, "empty", "the file holds no samples",
                         "re-export the recording or remove the file")
    if not np.all(np.isfinite(data)):
        raise AudioError(path, "non_finite", "the file holds NaN or infinite samples",
                         "re-export the recording from its source or remove the file")
    wav = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    peak = float(np.max(np.abs(wav)))
    if peak == 0.0:
        raise AudioError(path, "silent", "every sample is zero",
                         "check the recording chain; remove the file if it is a placeholder")
    rescaled = peak > 1.0
    if rescaled:
        wav = wav / peak
    if source_rate != sample_rate:
        wav = soxr.resample(wav, source_rate, sample_rate, quality="HQ").astype(np.float32)
    duration = wav.shape[0] / sample_rate
    if duration < min_duration_s:
        raise AudioError(path, "too_short", f"{duration:.3f} s is under the {min_duration_s} s minimum",
                         "remove the file, or lower the minimum duration if such clips are intended")
    info = AudioInfo(source_rate=int(source_rate), channels=int(data.shape[1]),
                     subtype=str(subtype), peak_rescaled=rescaled)
    return np.ascontiguousarray(wav, dtype=np.float32), info


def to_int16(wav: np.ndarray) -> np.ndarray:
    """Float waveform in [-1, 1] → int16 PCM (rounded, clipped)."""
    return np.clip(np.round(wav * _INT16_MAX), -_INT16_MAX - 1, _INT16_MAX).astype(np.int16)


def to_float(pcm: np.ndarray) -> np.ndarray:
    """int16 PCM → float32 waveform in [-1, 1]."""
    return pcm.astype(np.float32) / _INT16_MAX
