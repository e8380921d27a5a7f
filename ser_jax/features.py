"""Pure waveform → feature functions (librosa; opensmile for eGeMAPS), one preset per seed. No I/O.

Every feature array is time-major: float32 [frames, bins]. A fixed-length preset gives
the same frame count for every utterance; a variable-length one gives
`num_frames(num_samples, params)` frames. eGeMAPS functionals (the classic reference) are one
"frame" of 88 values per utterance: statistics over the whole utterance.
"""

from __future__ import annotations

import dataclasses
import functools

import librosa
import ml_collections
import numpy as np
import threadpoolctl

from ser_jax.errors import SerJaxError

KINDS = ("logmel", "mfcc", "stft", "egemaps")
EGEMAPS_SIZE = 88  # eGeMAPSv02 functionals
LOGS = ("db", "ln")
PADS = ("zero", "last_frame")


@dataclasses.dataclass(frozen=True)
class FeatureParams:
    """Everything that determines a feature array (and so the feature-cache key).

    Attributes:
      name: preset it came from (informational).
      kind: `logmel`, `mfcc`, `stft` (log-magnitude STFT) or `egemaps` (openSMILE's eGeMAPSv02
        functionals of the whole utterance: 1 × 88; the frame fields are then unused).
      sample_rate: Hz; must equal the corpus rate (16000).
      n_fft: FFT size; `stft` gives n_fft // 2 + 1 bins.
      win_length: analysis window in samples (<= n_fft).
      hop_length: frame shift in samples.
      window: librosa window name (`hann`, `hamming` ...).
      n_mels: mel bands (logmel, and the mel stage of mfcc).
      n_mfcc: cepstral coefficients (mfcc).
      log: `db` (10·log10 power, floor `log_floor`) or `ln` (natural log of magnitude + `log_floor`).
      log_floor: amin of the dB conversion / epsilon of the natural log.
      top_db: floor each utterance at its maximum minus top_db dB, as librosa's defaults do
        (80): with `ln` the same dynamic range in natural-log units. Digital silence (exact
        zeros, 3 % of EmoDB's frames) would otherwise give −100 to −200 dB outliers. 0 → no
        floor (the log_floor alone).
      crop_seconds: fixed-length input: crop to this many seconds; 0 → variable length.
      pad: how a short utterance reaches the fixed length: `zero` pads the waveform
        (Tripathi et al.), `last_frame` repeats the last frame (Lian et al.).
      fixed_frames: frames of a fixed-length input; 0 → 1 + crop samples // hop.
    """

    name: str = "custom"
    kind: str = "logmel"
    sample_rate: int = 16000
    n_fft: int = 2048
    win_length: int = 2048
    hop_length: int = 512
    window: str = "hann"
    n_mels: int = 128
    n_mfcc: int = 40
    log: str = "db"
    log_floor: float = 1e-10
    top_db: float = 0.0
    crop_seconds: float = 6.0
    pad: str = "zero"
    fixed_frames: int = 0

    def __post_init__(self):
        problems = []
        if self.kind not in KINDS:
            problems.append(f"kind {self.kind!r} is not one of {KINDS}")
        if self.log not in LOGS:
            problems.append(f"log {self.log!r} is not one of {LOGS}")
        if self.pad not in PADS:
            problems.append(f"pad {self.pad!r} is not one of {PADS}")
        if not 0 < self.win_length <= self.n_fft:
            problems.append(f"win_length {self.win_length} must be in (0, n_fft={self.n_fft}]")
        if self.kind == "egemaps" and self.crop_seconds:
            problems.append("kind 'egemaps' summarises the whole utterance: crop_seconds must be 0")
        if self.hop_length <= 0 or self.crop_seconds < 0 or self.fixed_frames < 0:
            problems.append("hop_length must be > 0; crop_seconds and fixed_frames >= 0")
        if problems:
            raise SerJaxError("bad --config.features: " + "; ".join(problems))

    @property
    def fixed_length(self) -> bool:
        return self.crop_seconds > 0

    @property
    def num_bins(self) -> int:
        return {"logmel": self.n_mels, "mfcc": self.n_mfcc, "stft": self.n_fft // 2 + 1,
                "egemaps": EGEMAPS_SIZE}[self.kind]

    @property
    def crop_samples(self) -> int:
        return int(round(self.crop_seconds * self.sample_rate))

    @classmethod
    def from_config(cls, cfg) -> "FeatureParams":
        """From `config.features` (a ConfigDict with exactly these fields)."""
        return cls(**{f.name: cfg[f.name] for f in dataclasses.fields(cls)})

    def to_config(self) -> ml_collections.ConfigDict:
        return ml_collections.ConfigDict(dataclasses.asdict(self))


_TRIPATHI = dict(sample_rate=16000, n_fft=2048, win_length=2048, hop_length=512, window="hann",
                 n_mels=128, n_mfcc=40, log="db", top_db=80.0, crop_seconds=6.0, pad="zero")
_DAI = dict(sample_rate=16000, n_fft=1024, win_length=640, hop_length=160, window="hamming",
            n_mels=128, log="db", top_db=80.0, crop_seconds=0.0)

PRESETS = {
    # 000 Tripathi et al.: 16 kHz, Hann 2048 = FFT 2048, hop 512, 128 mels / 40 MFCC, 6 s zero-padded;
    # librosa's dB defaults (top_db 80), which the seed's librosa pipeline used.
    "tripathi_mel": FeatureParams(name="tripathi_mel", kind="logmel", **_TRIPATHI),
    "tripathi_mfcc": FeatureParams(name="tripathi_mfcc", kind="mfcc", **_TRIPATHI),
    # 001 Dai et al.: Hamming 40 ms, shift 10 ms, DFT 1024, 128 mels or STFT, variable length.
    "dai_mel": FeatureParams(name="dai_mel", kind="logmel", **_DAI),
    "dai_stft": FeatureParams(name="dai_stft", kind="stft", **_DAI),
    # 002 Lian et al.: Hamming 20 ms, half overlap, 512-point FFT → 257 bins × 400 frames for 4 s,
    # longer cut, shorter padded with the last frame, natural log (floored 80 dB below the maximum).
    "lian_stft": FeatureParams(name="lian_stft", kind="stft", sample_rate=16000, n_fft=512,
                               win_length=320, hop_length=160, window="hamming", log="ln",
                               log_floor=1e-6, top_db=80.0, crop_seconds=4.0, pad="last_frame", fixed_frames=400),
    # The classic reference: openSMILE's eGeMAPSv02 functionals (Eyben et al. 2016), 88 per utterance.
    "egemaps": FeatureParams(name="egemaps", kind="egemaps", sample_rate=16000, crop_seconds=0.0),
}


def preset(name: str) -> ml_collections.ConfigDict:
    """A preset as a config block (`config.features = features.preset("dai_mel")`)."""
    if name not in PRESETS:
        raise SerJaxError(f"unknown feature preset {name!r}: choose from {sorted(PRESETS)}")
    return PRESETS[name].to_config()


def num_frames(num_samples: int, p: FeatureParams) -> int:
    """Frames `extract` returns for a waveform of `num_samples` samples."""
    if p.kind == "egemaps":
        return 1
    if p.fixed_length:
        return p.fixed_frames or 1 + p.crop_samples // p.hop_length
    return 1 + int(num_samples) // p.hop_length  # librosa's centred framing


def valid_frames(num_samples: np.ndarray, p: FeatureParams) -> np.ndarray:
    """int [N] frames of each utterance's features that hold audio: all of a variable-length
    input, and of a fixed-length one those before its padding."""
    num_samples = np.asarray(num_samples, np.int64)
    if p.kind == "egemaps":
        return np.ones_like(num_samples)
    audio = 1 + num_samples // p.hop_length
    return np.minimum(audio, num_frames(0, p)) if p.fixed_length else audio


def fit_waveform(y: np.ndarray, p: FeatureParams) -> np.ndarray:
    """Crops a fixed-length input to `crop_seconds`, zero-padding it when `pad == 'zero'`."""
    if not p.fixed_length:
        return y
    y = y[:p.crop_samples]
    if p.pad == "zero" and y.shape[0] < p.crop_samples:
        y = np.pad(y, (0, p.crop_samples - y.shape[0]))
    return y


def fit_frames(feats: np.ndarray, frames: int) -> np.ndarray:
    """Crops [T, F] to `frames` rows, or repeats the last row up to that many."""
    if feats.shape[0] >= frames:
        return feats[:frames]
    return np.concatenate([feats, np.repeat(feats[-1:], frames - feats.shape[0], axis=0)])


def extract(y: np.ndarray, p: FeatureParams) -> np.ndarray:
    """Features of one waveform.

    Args:
      y: float32 [num_samples] mono waveform at `p.sample_rate`.
      p: feature parameters.

    Returns:
      float32 [num_frames(len(y), p), p.num_bins].
    """
    with _blas().limit(limits=1, user_api="blas"):
        return _extract(y, p)


@functools.lru_cache(maxsize=1)
def _blas() -> threadpoolctl.ThreadpoolController:
    """BLAS thread control for `extract` (built once: inspecting the libraries is slow).

    `extract` runs BLAS single-threaded: a multi-threaded mel projection sums in an order
    that depends on the thread count, and the same corpus gave features differing by up to
    8e-6 dB on 1 and 2 cores, enough to send a training run elsewhere. One thread makes the
    features the same on every machine with the same libraries.
    """
    return threadpoolctl.ThreadpoolController()


def _extract(y: np.ndarray, p: FeatureParams) -> np.ndarray:
    if p.kind == "egemaps":
        return np.asarray(_smile().process_signal(np.asarray(y, np.float32), p.sample_rate).to_numpy(), np.float32)
    y = fit_waveform(np.asarray(y, np.float32), p)
    db = dict(ref=1.0, amin=p.log_floor, top_db=p.top_db or None)
    if p.kind == "stft":
        mag = magnitude(y, p)
        out = (librosa.amplitude_to_db(mag, **db)
               if p.log == "db" else _floored(np.log(mag + p.log_floor), p.top_db / 20))
    else:
        power = magnitude(y, p) ** 2
        mel = np.einsum("ft,mf->mt", power, _mel_basis(p.sample_rate, p.n_fft, p.n_mels), optimize=True)
        log_mel = (librosa.power_to_db(mel, **db)
                   if p.log == "db" else _floored(np.log(mel + p.log_floor), p.top_db / 10))
        out = log_mel if p.kind == "logmel" else librosa.feature.mfcc(S=log_mel, n_mfcc=p.n_mfcc)
    out = np.ascontiguousarray(out.T, dtype=np.float32)
    if p.fixed_length:
        out = fit_frames(out, num_frames(0, p))
    return out


@functools.lru_cache(maxsize=1)
def _smile():
    """openSMILE's eGeMAPSv02 functionals extractor (built once per process: it parses its
    configuration files; imported here, not at the top: importing opensmile takes ~1 s)."""
    import opensmile  # pylint: disable=import-outside-toplevel

    return opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                           feature_level=opensmile.FeatureLevel.Functionals)


def _floored(log_values: np.ndarray, decades: float) -> np.ndarray:
    """Natural-log values floored `decades` powers of ten below their maximum (0: unchanged)."""
    if not decades:
        return log_values
    return np.maximum(log_values, log_values.max() - decades * np.log(10.0))


def magnitude(y: np.ndarray, p: FeatureParams) -> np.ndarray:
    """|STFT| [n_fft // 2 + 1, 1 + len(y) // hop] of y (librosa, centred, zero-padded ends).

    Frames lying wholly in a run of zeros at the end (the zero padding of a short utterance
    up to `crop_seconds`) are exactly zero, so they are filled in, not computed: a 2 s EmoDB
    file padded to 6 s needs 66 of 188 FFTs. Same values, bit for bit (tested).
    """
    stft = dict(n_fft=p.n_fft, hop_length=p.hop_length, win_length=p.win_length, window=p.window,
                center=True, pad_mode="constant")
    frames = 1 + len(y) // p.hop_length
    # A frame t spans samples [t·hop − n_fft/2, t·hop + n_fft/2): past `signal_end + n_fft/2`
    # a frame start lies beyond the last non-zero sample.
    # (At least n_fft samples: librosa warns on shorter input.)
    head = max(len(np.trim_zeros(y, "b")) + p.n_fft // 2, p.n_fft)
    if head >= len(y):
        return np.abs(librosa.stft(y, **stft))
    mag = np.abs(librosa.stft(y[:head], **stft))
    return np.pad(mag, ((0, 0), (0, frames - mag.shape[1])))


@functools.lru_cache(maxsize=8)
def _mel_basis(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """librosa's mel filterbank (Slaney), built once per setting: building it costs more than
    applying it (measured ~10 ms against ~2 ms per 6 s utterance at FFT 2048)."""
    basis = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)
    basis.setflags(write=False)
    return basis
