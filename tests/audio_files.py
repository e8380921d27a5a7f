"""Helpers that write real audio files for tests."""

from pathlib import Path

import numpy as np
import soundfile as sf


def tone(seconds: float, sample_rate: int, freq: float = 440.0, channels: int = 1) -> np.ndarray:
    """A sine at `freq` (0.5 amplitude), [samples] or [samples, channels]."""
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    y = 0.5 * np.sin(2 * np.pi * freq * t).astype(np.float32)
    return y if channels == 1 else np.stack([y] * channels, axis=1)


def write_wav(path: Path, data: np.ndarray, sample_rate: int = 16000, subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data, sample_rate, subtype=subtype, format="WAV")
    return path
