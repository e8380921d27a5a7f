"""Numpy batches of fixed shapes from the feature cache: padding, masks, scaling, pairs.

Training batches are full (the last partial batch of a shuffled epoch is left for the
next epoch's shuffle) so BatchNorm never sees padding; evaluation batches are padded and
masked so no utterance is dropped. Variable-length inputs are padded to a multiple of
`bucket_frames`, so each bucket compiles once. Every random choice is seeded by
(seed, epoch): a resumed run sees the same batches.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Iterator

import numpy as np

from ser_jax import features
from ser_jax.errors import SerJaxError


# train.input_scaling → what the model's input (and the reconstruction target) then is
SCALINGS = {"minmax": "inputs min-max scaled to [0, 1]",
            "standardize": "inputs standardised, training-fold mean 0 and std 1",
            "none": "inputs unscaled"}


_MIN_SPREAD = 1e-6  # a bin constant over the training fold keeps a finite scale


@dataclasses.dataclass(frozen=True)
class Scaler:
    """Affine input scaling fitted on the training fold only, per bin or with one scalar.

    `minmax` maps the training range to [0, 1] (the reconstruction target of Tripathi
    et al.), `standardize` to zero mean and unit variance, `none` leaves values as they are.

    Attributes:
      kind: `minmax`, `standardize` or `none`.
      shift, scale: one value per bin (F), or one value for every bin.
    """

    kind: str
    shift: tuple
    scale: tuple

    @functools.cached_property
    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """float32 shift and scale, converted once (the scaler runs on every utterance of every batch)."""
        return np.asarray(self.shift, np.float32), np.asarray(self.scale, np.float32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        shift, scale = self._arrays
        y = (np.asarray(x, np.float32) - shift) * scale
        return np.clip(y, 0.0, 1.0) if self.kind == "minmax" else y


def normalize_utterance(f: np.ndarray, valid: int, stats=None) -> np.ndarray:
    """Each bin minus a mean, divided by a standard deviation: the utterance's own over its
    valid frames (per-utterance normalisation: uses nothing but the utterance), or `stats`
    = (mean [F], std [F]) of its speaker (per-speaker normalisation)."""
    if stats is None:
        audio = np.asarray(f[:max(int(valid), 1)], np.float64)
        stats = audio.mean(axis=0), audio.std(axis=0)
    mean, std = stats
    return ((np.asarray(f, np.float64) - mean) / np.maximum(std, _MIN_SPREAD)).astype(np.float32)


def speaker_statistics(store, records: np.ndarray, valid_frames: np.ndarray, speakers: np.ndarray) -> np.ndarray:
    """float64 [N, 2, F]: for each utterance, the per-bin mean and std of every valid frame of
    its speaker's utterances among `records` (all of the corpus: the test speaker's
    unlabelled audio included, a transductive step results must declare)."""
    speakers = np.asarray(speakers)
    stats = {}
    for speaker in np.unique(speakers):
        frames = [np.asarray(store.get(int(r))[:max(int(n), 1)], np.float64)
                  for r, n in zip(records[speakers == speaker], valid_frames[speakers == speaker])]
        frames = np.concatenate(frames)
        stats[speaker] = np.stack([frames.mean(axis=0), frames.std(axis=0)])
    return np.stack([stats[s] for s in speakers])


def corpus_speaker_statistics(train_config, corpus, store) -> np.ndarray | None:
    """`speaker_statistics` of every utterance of `corpus` over its valid frames where
    `train_config` asks for per-speaker normalisation; else None."""
    if normalization(train_config) != "speaker":
        return None
    return speaker_statistics(store, corpus.record_index, features.valid_frames(corpus.num_samples, store.params),
                              corpus.speakers)


def fit_scaler(kind: str, store, records: np.ndarray, valid_frames: np.ndarray, *, per_bin: bool = True,
               per_utterance: bool = False, speaker_stats: np.ndarray | None = None) -> Scaler:
    """Statistics of the training fold's utterances, over their valid frames only.

    Args:
      kind: `minmax`, `standardize` or `none`.
      store: the FeatureStore.
      records: int [N] records of the training fold's utterances.
      valid_frames: int [N] frames of each that hold the utterance (not the padding of a
        fixed-length input; `features.valid_frames`).
      per_bin: one shift and scale per frequency bin / coefficient (an MFCC's c10 varies a
        hundred times less than its c0), or one for all.
      per_utterance: statistics of the utterances after `normalize_utterance` (as batches
        will see them).
      speaker_stats: [N, 2, F] per-speaker statistics of each record (`speaker_statistics`):
        statistics after per-speaker normalisation.
    """
    if kind not in SCALINGS:
        raise SerJaxError(f"--config.train.input_scaling={kind!r} is not one of {' | '.join(SCALINGS)}")
    if kind == "none":
        return Scaler(kind, (0.0,), (1.0,))
    axis = 0 if per_bin else None
    # One utterance at a time (float64 sums): the memory-mapped cache is never loaded whole,
    # so a corpus larger than RAM still trains.
    lo, hi, total, squares, count = np.inf, -np.inf, 0.0, 0.0, 0
    for i, (r, n) in enumerate(zip(records, valid_frames)):
        f = store.get(int(r))
        if per_utterance or speaker_stats is not None:
            f = normalize_utterance(f, n, None if speaker_stats is None else speaker_stats[i])
        f = np.asarray(f[:max(int(n), 1)], np.float64)
        lo, hi = np.minimum(lo, f.min(axis=axis)), np.maximum(hi, f.max(axis=axis))
        total, squares = total + f.sum(axis=axis), squares + np.square(f).sum(axis=axis)
        count += f.shape[0] if per_bin else f.size
    as_tuple = lambda v: tuple(float(a) for a in np.atleast_1d(v))  # noqa: E731
    if kind == "minmax":
        return Scaler(kind, as_tuple(lo), as_tuple(1.0 / np.maximum(hi - lo, _MIN_SPREAD)))
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean * mean, 0.0))
    return Scaler(kind, as_tuple(mean), as_tuple(1.0 / np.maximum(std, _MIN_SPREAD)))


@dataclasses.dataclass(frozen=True)
class InputShape:
    """How utterances' features become a batch's frames.

    Attributes:
      fixed_length: the features have one length (cropped or padded when computed).
      bucket_frames: pad variable lengths up to a multiple of this.
      max_frames: crop variable-length inputs to this many frames (0: no crop).
      crop_frames: variable-length features cut or zero-padded to exactly this many frames
        (a fixed-size input chosen from the corpus's durations); 0: off.
      random_crop: with crop_frames, a longer utterance is cut at a random offset (training);
        otherwise at the offset of its evaluation window (`window_start`).
      per_utterance: each utterance normalised by its own statistics first
        (`normalize_utterance`).
      windows: with crop_frames, evaluation and predict cut a longer utterance at this many
        evenly spaced offsets (its start … its end) and average the model's outputs over them;
        1: its start only.
    """

    fixed_length: bool
    bucket_frames: int = 100
    max_frames: int = 0
    crop_frames: int = 0
    random_crop: bool = False
    per_utterance: bool = False
    windows: int = 1

    def windows_for(self, frames: int) -> int:
        """Evaluation windows of a `frames`-long utterance: `windows` where it is cut to a
        shorter `crop_frames`, else 1."""
        return self.windows if self.crop_frames and not self.fixed_length and frames > self.crop_frames else 1

    @classmethod
    def from_config(cls, train_config, params, crop_frames: int = 0) -> "InputShape":
        windows = int(train_config.get("eval_windows", 1))
        if windows < 1:
            raise SerJaxError(f"--config.train.eval_windows={windows}: 1 (each utterance's start) or more")
        return cls(params.fixed_length, train_config.bucket_frames, train_config.max_frames, crop_frames,
                   per_utterance=normalization(train_config) == "utterance", windows=windows)


def window_start(frames: int, crop: int, window: int, windows: int) -> int:
    """First frame of evaluation window `window` of `windows` (evenly spaced from the start to
    the end) of a `frames`-long utterance cut to `crop` frames; 0 where it is not longer."""
    if frames <= crop or windows <= 1:
        return 0
    return int(round(window * (frames - crop) / (windows - 1)))


NORMALIZATIONS = ("none", "utterance", "speaker")


# how a table's title declares per-speaker normalisation (run results.md, sweep.md)
SPEAKER_NORMALIZATION = ("per-speaker normalisation (each speaker's features standardised with that speaker's "
                         "statistics, the test speaker's unlabelled audio included)")


def normalization(train_config) -> str:
    """`train.normalize` (runs saved before the key: none), checked."""
    kind = train_config.get("normalize", "none")
    if kind not in NORMALIZATIONS:
        raise SerJaxError(f"--config.train.normalize={kind!r}: choose one of {NORMALIZATIONS}")
    return kind


@dataclasses.dataclass(frozen=True)
class SpecAugment:
    """SpecAugment-style masks of training inputs: `time_masks` bands of up to `max_time`
    frames (within each utterance's true length) and `freq_masks` bands of up to `max_freq`
    bins, set to 0 (after scaling: the training minimum for min–max, the mean for
    standardisation). Drawn from the epoch's generator, so a resumed run sees the same masks.
    """

    time_masks: int = 0
    max_time: int = 0
    freq_masks: int = 0
    max_freq: int = 0

    @classmethod
    def from_config(cls, c) -> "SpecAugment | None":
        augment = cls(c.time_masks, c.max_time, c.freq_masks, c.max_freq)
        return augment if (augment.time_masks and augment.max_time) or (augment.freq_masks and augment.max_freq) \
            else None

    def __call__(self, x: np.ndarray, lengths: np.ndarray, rng) -> np.ndarray:
        x = x.copy()
        for j, length in enumerate(lengths):
            for _ in range(self.time_masks if self.max_time else 0):
                width = int(rng.integers(0, min(self.max_time, int(length)) + 1))
                start = int(rng.integers(0, int(length) - width + 1))
                x[j, start:start + width] = 0.0
            for _ in range(self.freq_masks if self.max_freq else 0):
                width = int(rng.integers(0, min(self.max_freq, x.shape[2]) + 1))
                start = int(rng.integers(0, x.shape[2] - width + 1))
                x[j, :, start:start + width] = 0.0
        return x


def freq_warp(f: np.ndarray, factor: float) -> np.ndarray:
    """Features [T, F] stretched along the frequency axis by `factor` (> 1 moves content to
    higher bins, < 1 to lower ones), linearly interpolated; bins whose source lies past the last
    bin repeat it. A rough, feature-domain stand-in for vocal-tract-length perturbation (VTLP,
    Jaitly & Hinton 2013): speakers differ in where their formants sit."""
    bins = f.shape[1]
    source = np.minimum(np.arange(bins, dtype=np.float64) / factor, bins - 1)
    low = np.floor(source).astype(np.int64)
    high = np.minimum(low + 1, bins - 1)
    frac = (source - low).astype(f.dtype)
    return f[:, low] * (1 - frac) + f[:, high] * frac


def fixed_size(config) -> bool:
    """Every batch of `config` has the same number of frames (fixed-length features, or
    variable-length ones cut to one length)."""
    return bool(config.features.crop_seconds or config.train.get("crop_percentile", 0))


def crop_frames_of(lengths: np.ndarray, percentile: float) -> int:
    """The fixed input length covering `percentile` % of these utterances' frame counts
    (Tripathi et al. took the 75th percentile of the corpus's durations)."""
    return int(np.ceil(np.percentile(np.asarray(lengths), percentile)))


def prepare(feats: list, scaler: Scaler, shape: InputShape, valid=None, rng=None,
            speaker_stats=None, window: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The one input path of training, evaluation and predict: each utterance's features
    [T_i, F] cropped, scaled and zero-padded into [len(feats), T, F], with true lengths:
    the frames that hold audio (`valid[i]`, from `features.valid_frames`, where a
    fixed-length input was padded when computed; else all T_i).

    Args:
      rng: a numpy Generator for the crop offsets when `shape.random_crop`.
      speaker_stats: [len(feats), 2, F] each utterance's speaker statistics (per-speaker
        normalisation), or None.
      window: without random crops, which of `shape.windows` evaluation windows to cut.
    """
    if shape.crop_frames and not shape.fixed_length:
        crop = shape.crop_frames
        starts = [int(rng.integers(0, f.shape[0] - crop + 1)) if shape.random_crop and rng is not None
                  and f.shape[0] > crop else window_start(f.shape[0], crop, window, shape.windows) for f in feats]
        feats = [f[s:s + crop] for f, s in zip(feats, starts)]
    elif shape.max_frames and not shape.fixed_length:
        feats = [f[:shape.max_frames] for f in feats]
    lengths = np.asarray([f.shape[0] for f in feats], np.int32)
    true = lengths if valid is None else np.clip(np.asarray(valid, np.int64), 1, lengths).astype(np.int32)
    if shape.per_utterance:
        feats = [normalize_utterance(f, n) for f, n in zip(feats, true)]
    elif speaker_stats is not None:
        feats = [normalize_utterance(f, n, s) for f, n, s in zip(feats, true, speaker_stats)]
    frames = int(lengths.max())
    if shape.crop_frames and not shape.fixed_length:
        frames = shape.crop_frames
    elif not shape.fixed_length:
        frames = -(-frames // shape.bucket_frames) * shape.bucket_frames
    out = np.zeros((len(feats), frames, feats[0].shape[1]), np.float32)
    for j, f in enumerate(feats):
        out[j, :f.shape[0]] = scaler(f)
    return out, true


@dataclasses.dataclass(frozen=True)
class Source:
    """The utterances of one split: feature records, labels and how to shape them.

    Attributes:
      store: the FeatureStore.
      records: int [N] record index of each utterance in the store.
      labels: int [N].
      scaler: input scaling (fitted on the training fold).
      shape: how features become a batch's frames.
      valid: int [N] frames of each utterance that hold audio (`features.valid_frames`), or
        None: all of them.
      augment: masks applied to training batches (the training source only), or None.
      speaker_stats: [N, 2, F] per-speaker normalisation statistics of each utterance, or None.
      mixup: α of mixup on training batches (the training source only); 0: off.
      warp: each training utterance's raw features stretched in frequency by a factor drawn
        uniformly from [1 − warp, 1 + warp] (`freq_warp`; the training source only); 0: off.
      group: variable-length training batches are cut from pools of this many batches sorted
        by length, so a batch pads to lengths like its own (`length_grouped`; the training
        source's utterance batches only: pair batches are drawn as the paper draws pairs); 0: off.
    """

    store: object
    records: np.ndarray
    labels: np.ndarray
    scaler: Scaler
    shape: InputShape
    valid: np.ndarray | None = None
    augment: SpecAugment | None = None
    speaker_stats: np.ndarray | None = None
    mixup: float = 0.0
    warp: float = 0.0
    group: int = 0

    def __len__(self) -> int:
        return int(self.records.shape[0])

    def subset(self, idx: np.ndarray) -> "Source":
        """The utterances `idx` of this split, shaped and scaled the same way."""
        rows = lambda a: None if a is None else a[idx]  # noqa: E731
        return dataclasses.replace(self, records=self.records[idx], labels=self.labels[idx], valid=rows(self.valid),
                                   speaker_stats=rows(self.speaker_stats))

    def features_of(self, idx: np.ndarray, rng=None, window: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Scaled, padded features [len(idx), T, F] and true lengths [len(idx)] (`rng`: crop
        offsets, `window`: evaluation window; see `prepare`)."""
        valid = None if self.valid is None else self.valid[np.asarray(idx)]
        stats = None if self.speaker_stats is None else self.speaker_stats[np.asarray(idx)]
        feats = [np.asarray(self.store.get(int(self.records[i]))) for i in idx]
        if self.warp and rng is not None:
            feats = [freq_warp(f, factor) for f, factor in
                     zip(feats, rng.uniform(1.0 - self.warp, 1.0 + self.warp, len(feats)))]
        x, lengths = prepare(feats, self.scaler, self.shape, valid, rng, stats, window)
        if self.augment is not None and rng is not None:
            x = self.augment(x, lengths, rng)
        return x, lengths


def fold_sources(train_config, corpus, store, fold, speaker_stats=None) -> dict:
    """The train, val and test Sources of one fold: scaling fitted on its training utterances
    (after normalisation, valid frames only), the crop length from their lengths, random
    crops and masks for training only.

    Args:
      train_config: `config.train`.
      corpus, store: the corpus and its FeatureStore.
      fold: a `protocols.Fold`.
      speaker_stats: [len(corpus), 2, F] (`speaker_statistics`) with per-speaker
        normalisation, else None.
    """
    tc = train_config
    valid = features.valid_frames(corpus.num_samples, store.params)
    rows = lambda idx: None if speaker_stats is None else speaker_stats[idx]  # noqa: E731
    scaler = fit_scaler(tc.input_scaling, store, corpus.record_index[fold.train], valid[fold.train],
                        per_bin=tc.get("scaling_per_bin", False), per_utterance=normalization(tc) == "utterance",
                        speaker_stats=rows(fold.train))
    crop = crop_frames_of(store.lengths[corpus.record_index[fold.train]], tc.crop_percentile) \
        if tc.get("crop_percentile", 0) else 0
    shape = InputShape.from_config(tc, store.params, crop)
    augment = SpecAugment.from_config(tc.spec_augment) if "spec_augment" in tc else None
    train = dataclasses.replace(shape, random_crop=bool(tc.get("random_crop", False)))
    sources = {name: Source(store, corpus.record_index[idx], corpus.labels[idx], scaler, shape, valid[idx],
                            None, rows(idx)) for name, idx in (("train", fold.train), ("val", fold.val), ("test", fold.test))}
    group = 0 if train.fixed_length or crop else int(tc.get("group_by_length", 0))
    sources["train"] = dataclasses.replace(sources["train"], shape=train, augment=augment,
                                           mixup=float(tc.get("mixup_alpha", 0.0)),
                                           warp=float(tc.get("freq_warp", 0.0)), group=group)
    return sources


def _classify_batch(source: Source, idx: np.ndarray, batch_size: int, rng=None, window: int = 0) -> dict:
    real = idx.size
    padded = np.concatenate([idx, np.full(batch_size - real, idx[0], idx.dtype)])
    x, lengths = source.features_of(padded, rng, window)
    mask = (np.arange(batch_size) < real).astype(np.float32)
    return {"x": x, "label": source.labels[padded].astype(np.int32),
            "length": lengths, "mask": mask}


def length_grouped(order: np.ndarray, lengths: np.ndarray, batch_size: int, pool: int,
                   rng: np.random.Generator) -> list[np.ndarray]:
    """The full batches of the shuffled `order`, regrouped by length: each run of `pool`
    batches is sorted by `lengths` and cut into batches again, and the batches are then
    shuffled. An epoch keeps the same utterances (the remainder smaller than a batch still
    waits for the next), and a batch holds utterances of similar length, so padding it to its
    longest costs little."""
    usable = order[:len(order) - len(order) % batch_size]
    span = batch_size * pool
    batches = []
    for start in range(0, len(usable), span):
        run = usable[start:start + span]
        run = run[np.argsort(lengths[run], kind="stable")]
        batches += [run[i:i + batch_size] for i in range(0, len(run), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def train_batches(source: Source, batch_size: int, *, seed: int, epoch: int) -> Iterator[dict]:
    """Full shuffled batches of one epoch (a remainder smaller than a batch waits for the next),
    grouped by length when `source.group` > 0 (`length_grouped`), mixed up when `source.mixup`
    > 0 (`mixup`)."""
    order = np.random.default_rng([seed, epoch]).permutation(len(source))
    crops = np.random.default_rng([seed, epoch, 11])
    mixing = np.random.default_rng([seed, epoch, 23])
    if source.group:
        lengths = source.store.lengths[source.records]
        batches = length_grouped(order, lengths, batch_size, source.group, np.random.default_rng([seed, epoch, 31]))
    else:
        batches = [order[start:start + batch_size] for start in range(0, len(order) - batch_size + 1, batch_size)]
    for idx in batches:
        batch = _classify_batch(source, idx, batch_size, crops)
        yield mixup(batch, source.mixup, mixing) if source.mixup else batch


def mixup(batch: dict, alpha: float, rng: np.random.Generator) -> dict:
    """Mixup (Zhang et al. 2018) of a full training batch: each row mixed with another row of
    the batch, x ← λ·x + (1 − λ)·x[π], λ ~ Beta(α, α) per row, taken ≥ 0.5 so that `label`
    stays the dominant class (the one center loss pulls toward); `label_b` = label[π] and `mix`
    = λ tell the softmax loss its mixed target. The length is the longer of the two."""
    n = batch["label"].shape[0]
    partner = rng.permutation(n)
    lam = rng.beta(alpha, alpha, n)
    lam = np.maximum(lam, 1.0 - lam).astype(np.float32)
    x = lam[:, None, None] * batch["x"] + (1.0 - lam[:, None, None]) * batch["x"][partner]
    return {**batch, "x": x.astype(batch["x"].dtype), "length": np.maximum(batch["length"], batch["length"][partner]),
            "label_b": batch["label"][partner], "mix": lam}


def eval_batches(source: Source, batch_size: int, window: int = 0) -> Iterator[dict]:
    """Every utterance once, in order, cut at evaluation window `window`; the last batch padded
    and masked."""
    idx = np.arange(len(source))
    for start in range(0, len(idx), batch_size):
        yield _classify_batch(source, idx[start:start + batch_size], batch_size, window=window)


def sample_pairs(labels: np.ndarray, num_pairs: int, *, same_fraction: float, seed: int,
                 epoch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lian et al.'s pairs: `same_fraction` share an emotion, the rest differ.

    Args:
      labels: int [N] labels of the training utterances.
      num_pairs: pairs to draw.
      same_fraction: share of same-emotion pairs (1/3 in the paper).
      seed, epoch: the draw is a function of these alone.

    Returns:
      (first, second, same): int [num_pairs] utterance indices and 0/1 same flags.
    """
    rng = np.random.default_rng([seed, epoch, 7])
    labels = np.asarray(labels)
    by_class = {c: np.flatnonzero(labels == c) for c in np.unique(labels)}
    n_same = int(round(num_pairs * same_fraction))
    same = np.zeros(num_pairs, np.int32)
    same[:n_same] = 1
    rng.shuffle(same)
    first = rng.integers(0, labels.size, num_pairs)
    second = np.empty(num_pairs, np.int64)
    for k in range(num_pairs):
        own = labels[first[k]]
        if same[k]:
            second[k] = rng.choice(by_class[own])
        else:
            others = [c for c in by_class if c != own]
            second[k] = rng.choice(by_class[others[rng.integers(len(others))]])
    return first, second, same


def pair_batches(source: Source, batch_size: int, num_pairs: int, *, same_fraction: float,
                 seed: int, epoch: int) -> Iterator[dict]:
    """Full batches of pairs for one epoch: x [2B, T, F] and length [2B] hold the first members,
    then the second members; same [B] and mask [B] are per pair."""
    first, second, same = sample_pairs(source.labels, num_pairs, same_fraction=same_fraction,
                                       seed=seed, epoch=epoch)
    crops = np.random.default_rng([seed, epoch, 13])
    for start in range(0, num_pairs - batch_size + 1, batch_size):
        sl = slice(start, start + batch_size)
        x, lengths = source.features_of(np.concatenate([first[sl], second[sl]]), crops)
        yield {"x": x, "length": lengths, "same": same[sl], "mask": np.ones(batch_size, np.float32)}
