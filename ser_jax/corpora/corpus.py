"""Building (once) and opening a corpus chosen by `config.data`.

A build lives in `cache_dir/tfds/<corpus>-<fingerprint>/`; the fingerprint hashes the
source files' names, sizes and modification times, the builder's version and options,
so pointing at another copy or editing a file makes a new build instead of reusing a
stale one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ser_jax import audio
from ser_jax.corpora import base, emobox, emodb, iemocap, manifest
from ser_jax.errors import SerJaxError

# name (config.data.corpus) → the module of its builder, which provides DATA_FOLDER and
# source(data) → (builder class, its keyword arguments, what fingerprints the source files).
# A new corpus kind is one module plus one line here.
CORPORA = {"emodb": emodb, "emobox": emobox, "iemocap": iemocap, "manifest": manifest}


@dataclasses.dataclass(frozen=True, eq=False)
class Corpus:
    """Metadata of the usable utterances plus random access to their audio.

    Arrays are aligned: entry i of each describes utterance i. `record_index[i]` is
    utterance i's position in the build's records (and in its feature cache).

    Attributes:
      name: e.g. `emodb`, `iemocap/improvised_4`, `emobox/ravdess`.
      classes: class names; `labels` index into them.
      labels: int32 [N].
      speakers, sessions, utt_ids: str [N].
      durations: float32 [N] seconds at 16 kHz.
      num_samples: int64 [N].
      record_index: int64 [N].
      skipped: dicts (path, reason, detail) for everything left out, with why.
      adjusted: conversion → count (resampling, down-mixing ...).
      data_dir: the TFDS build folder.
      fingerprint: identifies the build (source content + builder options).
      num_records: records in the build (the feature cache covers all of them).
      record_num_samples: int64 [num_records] samples of every record, kept or not.
      records: random-access sequence of the build's records (TFDS data source).
      official_folds: the corpus's own folds where it ships them (EmoBox): dicts with name,
        train and test (utterance ids) and files; () otherwise.
    """

    name: str
    classes: tuple
    labels: np.ndarray
    speakers: np.ndarray
    sessions: np.ndarray
    utt_ids: np.ndarray
    durations: np.ndarray
    num_samples: np.ndarray
    record_index: np.ndarray
    skipped: tuple
    adjusted: dict
    data_dir: str
    fingerprint: str
    num_records: int
    record_num_samples: np.ndarray
    records: Sequence[Any] = dataclasses.field(repr=False)
    official_folds: tuple = ()

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def waveform(self, i: int) -> np.ndarray:
        """float32 [num_samples] audio of utterance i at 16 kHz."""
        return audio.to_float(self.records[int(self.record_index[i])]["audio"])


def open_builder(data, cache_dir) -> base.SpeechCorpusBuilder:
    """The builder `data.corpus` names, with its data_dir keyed by the source fingerprint.

    Args:
      data: `config.data` (corpus, root, manifest, emobox, label_set, min_duration_s, download_*).
      cache_dir: root of ser_jax's caches.

    Raises:
      SerJaxError: unknown corpus name. Builder errors for missing folders/files.
    """
    if data.corpus not in CORPORA:
        raise SerJaxError(f"unknown corpus {data.corpus!r}: set --config.data.corpus to one of {tuple(CORPORA)}")
    cls, kwargs, source = CORPORA[data.corpus].source(data)
    kwargs = {"min_duration_s": data.min_duration_s, "max_duration_s": data.get("max_duration_s", 600.0), **kwargs}
    options = {k: str(v) for k, v in kwargs.items() if k not in ("root", "manifest", "folder")}
    key = _hash({"source": source, "options": options, "builder": cls.__name__,
                 "version": str(cls.VERSION)})
    tfds_dir = Path(cache_dir).expanduser() / "tfds" / f"{data.corpus}-{key[:16]}"
    builder = cls(data_dir=str(tfds_dir), **kwargs)
    builder.ser_jax_fingerprint = key
    return builder


def data_folder(corpus: str) -> str | None:
    """The folder under $SER_JAX_DATA that holds this corpus kind, or None (no fixed place)."""
    return CORPORA[corpus].DATA_FOLDER if corpus in CORPORA else None


def load_corpus(data, cache_dir) -> Corpus:
    """Builds the corpus if needed and returns its usable utterances.

    `data.classes`, when non-empty, keeps only those classes (in that order), e.g. the
    4 IEMOCAP-style classes of EmoDB; the others are listed as skipped.
    """
    builder = open_builder(data, cache_dir)
    builder.prepare()
    records = builder.as_data_source(split=base.SPLIT)
    meta = builder.info.metadata
    classes = tuple(builder.info.features["label"].names)
    columns = _read_columns(records)
    skipped = list(meta.get("skipped", []))
    keep = np.arange(len(records))
    wanted = tuple(data.classes)
    if wanted:
        unknown = [c for c in wanted if c not in classes]
        if unknown:
            raise SerJaxError(f"--config.data.classes names {unknown}, not classes of "
                             f"{builder.name}: choose from {classes}")
        names = np.asarray(classes)[columns["label"]]
        keep = np.flatnonzero(np.isin(names, wanted))
        for i in np.flatnonzero(~np.isin(names, wanted)):
            skipped.append({"path": columns["path"][i], "reason": "excluded_label",
                            "detail": f"{names[i]!r} is outside --config.data.classes"})
        remap = {classes.index(c): j for j, c in enumerate(wanted)}
        columns["label"] = np.asarray([remap.get(int(l), -1) for l in columns["label"]])
        classes = wanted
    name = builder.name + (f"/{builder.builder_config.name}" if builder.builder_config else "")
    name += f"/{builder.corpus_name}" if getattr(builder, "corpus_name", "") else ""  # emobox/<corpus>
    return Corpus(
        name=name, classes=classes,
        labels=columns["label"][keep].astype(np.int32),
        speakers=columns["speaker"][keep], sessions=columns["session"][keep],
        utt_ids=columns["utt_id"][keep], durations=columns["duration"][keep].astype(np.float32),
        num_samples=columns["num_samples"][keep].astype(np.int64),
        record_index=keep.astype(np.int64), skipped=tuple(skipped),
        adjusted=dict(meta.get("adjusted", {})) | dict(meta.get("label_matches", {})), data_dir=str(builder.data_dir),
        fingerprint=builder.ser_jax_fingerprint, num_records=len(records),
        record_num_samples=columns["num_samples"].astype(np.int64), records=records,
        official_folds=tuple(meta.get("official_folds", ())))


_TEXT_COLUMNS = ("speaker", "session", "utt_id", "path")
_NUMBER_COLUMNS = ("label", "duration", "num_samples")


def _read_columns(records) -> dict:
    """Metadata columns of every record as numpy arrays (audio is not kept)."""
    cols = {k: [] for k in (*_TEXT_COLUMNS, *_NUMBER_COLUMNS)}
    for i in range(len(records)):
        rec = records[i]
        for k in _TEXT_COLUMNS:
            value = rec[k]
            cols[k].append(value.decode() if isinstance(value, bytes) else str(value))
        for k in _NUMBER_COLUMNS:
            cols[k].append(rec[k])
    return {k: np.asarray(v) for k, v in cols.items()}


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()
