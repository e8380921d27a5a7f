"""What every ser_jax corpus builder shares: the record schema and the skip ledger.

Builders write TFDS `array_record` files (no TensorFlow needed, random access through
`as_data_source`). One split, `train`, holds every usable utterance; the evaluation
protocols (`ser_jax.protocols`) do the real splitting by speaker or session.

A file or label line that cannot be used never vanishes: it is recorded in the
dataset's metadata (`skipped`: path, reason, detail) and shown by `--mode=describe`.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import os
from pathlib import Path
from typing import Iterator, Union

import numpy as np
import tensorflow_datasets as tfds

from ser_jax import audio, locking

SPLIT = "train"


@dataclasses.dataclass(frozen=True)
class Utterance:
    """One labelled utterance a builder found on disk, before its audio is read."""

    path: str
    utt_id: str
    label: str
    raw_label: str
    speaker: str
    session: str = ""
    gender: str = ""
    improvised: bool = False
    start_s: float = float("nan")
    end_s: float = float("nan")
    vad: tuple = (float("nan"),) * 3


@dataclasses.dataclass(frozen=True)
class Skip:
    """Something a builder found and could not use (a label line, an unknown label ...)."""

    path: str
    reason: str
    detail: str


Listing = Iterator[Union[Utterance, Skip]]


def record_features(classes) -> tfds.features.FeaturesDict:
    """The schema shared by all corpora (IEMOCAP-only fields hold NaN/'' elsewhere)."""
    text = tfds.features.Text
    scalar = tfds.features.Scalar
    return tfds.features.FeaturesDict({
        "audio": tfds.features.Tensor(shape=(None,), dtype=np.int16),
        "label": tfds.features.ClassLabel(names=list(classes)),
        "raw_label": text(),
        "speaker": text(),
        "session": text(),
        "utt_id": text(),
        "path": text(),
        "gender": text(),
        "improvised": scalar(dtype=np.bool_),
        "duration": scalar(dtype=np.float32),
        "num_samples": scalar(dtype=np.int64),
        "start": scalar(dtype=np.float32),
        "end": scalar(dtype=np.float32),
        "vad": tfds.features.Tensor(shape=(3,), dtype=np.float32),
    })


class SpeechCorpusBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Base of the corpus builders; subclasses define `classes` and `list_utterances`.

    Args (keyword):
      min_duration_s: clips shorter than this are skipped as `too_short`.
      max_duration_s: files longer than this are skipped as `too_long` before decoding; 0: no limit.
      **kwargs: passed to `tfds.core.GeneratorBasedBuilder` (data_dir, config ...).
    """

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {"1.0.0": "First release: 16 kHz int16 mono audio, one record per utterance.",
                     "1.1.0": "Identical audio listed twice is kept once (the other skipped as duplicate_audio)."}
    DESCRIPTION = ""
    HOMEPAGE = ""
    CITATION = ""

    def __init__(self, *, min_duration_s: float = audio.MIN_DURATION_S,
                 max_duration_s: float = audio.MAX_DURATION_S, **kwargs):
        self.min_duration_s = float(min_duration_s)
        self.max_duration_s = float(max_duration_s)
        super().__init__(file_format="array_record", **kwargs)

    @property
    def classes(self) -> tuple[str, ...]:
        raise NotImplementedError

    def download_config(self) -> tfds.download.DownloadConfig:
        """How `prepare` downloads; builders reading a manual folder override this."""
        return tfds.download.DownloadConfig()

    def prepare(self) -> None:
        """Writes the array_record files unless this exact build already exists.

        Several processes may start on an unbuilt corpus at once (a sweep on each core, a
        job array): an exclusive lock on a file in the build's root folder lets the first
        build it while the others wait, then find it finished.
        """
        root = Path(self.data_dir_root)
        root.mkdir(parents=True, exist_ok=True)
        with locking.exclusive(root / ".prepare.lock", wait=True):
            if not self.info.splits and Path(self.data_dir, "dataset_info.json").is_file():
                self.info.read_from_directory(self.data_dir)  # built while this one waited
            self.download_and_prepare(download_config=self.download_config())

    def list_utterances(self, dl_manager) -> Listing:
        """Yields every Utterance found, and a Skip for everything unusable."""
        raise NotImplementedError

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.DESCRIPTION,
            features=record_features(self.classes),
            homepage=self.HOMEPAGE,
            citation=self.CITATION,
            metadata=tfds.core.MetadataDict(),
            disable_shuffling=True,  # records keep listing order: reproducible indices
        )

    def _split_generators(self, dl_manager):
        return {SPLIT: self._generate_examples(self.list_utterances(dl_manager))}

    def _generate_examples(self, listing: Listing):
        skipped, adjusted, contents = [], collections.Counter(), {}
        class_index = {name: i for i, name in enumerate(self.classes)}
        for item in listing:
            if isinstance(item, Skip):
                skipped.append(dataclasses.asdict(item))
                continue
            try:
                wav, info = audio.load_audio(item.path, min_duration_s=self.min_duration_s,
                                             max_duration_s=self.max_duration_s)
            except audio.AudioError as err:
                skipped.append({"path": item.path, "reason": err.reason,
                                "detail": f"{err.detail}. Fix: {err.fix}"})
                continue
            samples = audio.to_int16(wav)
            digest = hashlib.blake2b(samples.tobytes(), digest_size=16).hexdigest()
            if digest in contents:  # the same recording twice: in train and test, or under two labels
                first = contents[digest]
                differs = [f"{k} {getattr(first, k)!r} there, {getattr(item, k)!r} here" for k in ("speaker", "label")
                           if getattr(first, k) != getattr(item, k)]
                skipped.append({"path": item.path, "reason": "duplicate_audio",
                                "detail": f"the same audio as {first.path}" + (f" ({'; '.join(differs)})" if differs else "")
                                + ": list each recording once"})
                continue
            contents[digest] = item
            adjusted.update(_adjustments(info))
            yield item.utt_id, {
                "audio": samples,
                "label": class_index[item.label],
                "raw_label": item.raw_label,
                "speaker": item.speaker,
                "session": item.session,
                "utt_id": item.utt_id,
                "path": item.path,
                "gender": item.gender,
                "improvised": item.improvised,
                "duration": wav.shape[0] / audio.SAMPLE_RATE,
                "num_samples": wav.shape[0],
                "start": item.start_s,
                "end": item.end_s,
                "vad": np.asarray(item.vad, np.float32),
            }
        self.info.metadata["skipped"] = skipped
        self.info.metadata["adjusted"] = dict(adjusted)


def _adjustments(info: audio.AudioInfo) -> list[str]:
    """Conversions applied to one file, as countable labels for the corpus report."""
    notes = []
    if info.source_rate != audio.SAMPLE_RATE:
        notes.append(f"resampled from {info.source_rate} Hz")
    if info.channels > 1:
        notes.append(f"downmixed from {info.channels} channels")
    if info.peak_rescaled:
        notes.append("float samples beyond [-1, 1] rescaled by their peak")
    return notes


def dir_fingerprint(root: Path, *patterns: str) -> list:
    """(relative path, size, mtime) of every file matching the patterns under root: a new
    copy or an edited file makes a new build."""
    entries = []
    for pattern in patterns:
        for path in sorted(Path(root).glob(pattern)):
            stat = path.stat()
            entries.append((os.path.relpath(path, root), stat.st_size, stat.st_mtime_ns))
    return entries
