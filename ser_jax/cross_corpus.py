"""Cross-corpus evaluation: each fold's selected model also scored on every utterance of other
corpora (`--config.eval.corpora`), their labels put onto the training classes.

A target is written as `key=value` pairs separated by `;` that override `config.data` (any
corpus kind), e.g. `corpus=manifest;manifest=male.csv` or
`corpus=emobox;emobox=EmoBox/data/emovo`. Its classes are mapped onto the training classes by
name: the user's `--config.eval.label_map` (`Angry=anger,hap=happiness`) first, then the
common spellings in `SYNONYMS` (angry/anger/ang, happy/happiness/hap/joy ...). A target class
that maps to none is listed and its utterances left out; a training class the target lacks
simply has no row (UA and macro-F1 average the classes present, as everywhere).

Features are the run's own (same parameters, the target's own feature cache); each fold's
scaling is the one fitted on its training part; with per-speaker normalisation, the target's
speakers are normalised with their own statistics (transductive on the target, as on the test
speaker).
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import ml_collections
import numpy as np

from ser_jax import feature_cache, features, input_pipeline
from ser_jax.corpora import data_folder, load_corpus
from ser_jax.errors import SerJaxError

# canonical class → spellings found in corpora (German and Italian names, EMOVO's and IEMOCAP's
# codes). No single letters: `a` is anger in SAVEE and fear (Angst) in EmoDB's file names.
SYNONYMS = {
    "anger": ("anger", "angry", "ang", "wut", "rab", "rabbia", "mad"),
    "happiness": ("happiness", "happy", "hap", "joy", "freude", "gio", "gioia"),
    "sadness": ("sadness", "sad", "sa", "trauer", "tri", "tristezza", "sorrow"),
    "neutral": ("neutral", "neu", "neutro"),
    "fear": ("fear", "fearful", "fea", "afraid", "scared", "angst", "pau", "paura"),
    "disgust": ("disgust", "disgusted", "dis", "ekel", "disgusto"),
    "boredom": ("boredom", "bored", "boredem", "langeweile"),
    "surprise": ("surprise", "surprised", "sur", "su", "sor", "sorpresa"),
    "calm": ("calm",),
    "excitement": ("excitement", "excited", "exc"),
    "frustration": ("frustration", "frustrated", "fru"),
    "contempt": ("contempt",),
}
_CANONICAL = {spelling: name for name, spellings in SYNONYMS.items() for spelling in spellings}


class CrossCorpusError(SerJaxError):
    """A target corpus or label map that cannot be used; the message names the key to fix."""


def _norm(label: str) -> str:
    return re.sub(r"[\s_\-]+", "", str(label)).casefold()


def canonical(label: str) -> str:
    """The common name of a class label (`Angry`, `ang` → `anger`); unknown labels: themselves, normalised."""
    return _CANONICAL.get(_norm(label), _norm(label))


def parse_label_map(text: str) -> dict:
    """`Angry=anger,hap=happiness` → {normalised target label: training class}."""
    mapping = {}
    for item in filter(None, (part.strip() for part in str(text).split(","))):
        if "=" not in item:
            raise CrossCorpusError(f"--config.eval.label_map item {item!r} is not TARGET=TRAINING_CLASS "
                                   "(e.g. --config.eval.label_map='Angry=anger,hap=happiness')")
        target, train = (s.strip() for s in item.split("=", 1))
        mapping[_norm(target)] = train
    return mapping


def map_classes(target_classes, train_classes, label_map: dict | None = None) -> tuple[dict, list]:
    """({target class index: training class index}, [target classes that map to none]).

    Raises:
      CrossCorpusError: the user's map names a training class that does not exist.
    """
    label_map = label_map or {}
    by_name = {c: i for i, c in enumerate(train_classes)}
    by_canonical = {}
    for i, c in enumerate(train_classes):
        by_canonical.setdefault(canonical(c), i)
    mapping, unmapped = {}, []
    for j, name in enumerate(target_classes):
        if _norm(name) in label_map:
            wanted = label_map[_norm(name)]
            if wanted not in by_name:
                raise CrossCorpusError(f"--config.eval.label_map maps {name!r} to {wanted!r}, which is not a "
                                       f"training class ({', '.join(train_classes)})")
            mapping[j] = by_name[wanted]
        elif canonical(name) in by_canonical:
            mapping[j] = by_canonical[canonical(name)]
        else:
            unmapped.append(name)
    return mapping, unmapped


def parse_target(spec: str, data, environ=os.environ) -> ml_collections.ConfigDict:
    """`config.data` with the overrides of one `--config.eval.corpora` entry. The training
    corpus's paths (root, manifest, emobox) and class subset are not inherited: every class of
    the target is read, then mapped; an empty root is looked up under $SER_JAX_DATA as for
    the training corpus (emodb/, IEMOCAP_full_release/)."""
    target = ml_collections.ConfigDict(data.to_dict())
    target.update(classes=(), root="", manifest="", emobox="")
    for item in filter(None, (part.strip() for part in str(spec).split(";"))):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in target or key == "classes":
            raise CrossCorpusError(f"--config.eval.corpora entry {spec!r}: {item!r} is not KEY=VALUE with KEY one of "
                                   f"{', '.join(k for k in target if k != 'classes')} "
                                   "(e.g. 'corpus=manifest;manifest=male.csv')")
        target[key] = type(target[key])(value.strip()) if not isinstance(target[key], str) else value.strip()
    folder = data_folder(target.corpus)
    if not target.root and folder and environ.get("SER_JAX_DATA", ""):
        candidate = Path(environ["SER_JAX_DATA"]).expanduser() / folder
        if candidate.is_dir():
            target.root = str(candidate)
    return target


@dataclasses.dataclass(frozen=True, eq=False)
class Target:
    """A target corpus ready for evaluation.

    Attributes:
      name: the table's heading (its corpus name and the spec).
      store: its FeatureStore (the run's feature parameters).
      records, labels, valid: the mapped utterances' records, training-class labels, valid frames.
      speaker_stats: [N, 2, F] with per-speaker normalisation, else None.
      mapping: target class → training class (names).
      unmapped: {target class: utterances left out}.
    """

    name: str
    store: object
    records: np.ndarray
    labels: np.ndarray
    valid: np.ndarray
    speaker_stats: np.ndarray | None
    mapping: dict
    unmapped: dict


def load_targets(config, train_classes, *, out=print) -> list[Target]:
    """Every `config.eval.corpora` entry built, featurised and mapped (once per run)."""
    specs = tuple(config.get("eval", {}).get("corpora", ()))
    if not specs:
        return []
    label_map = parse_label_map(config.eval.get("label_map", ""))
    params = features.FeatureParams.from_config(config.features)
    targets = []
    for spec in specs:
        corpus = load_corpus(parse_target(spec, config.data), config.cache_dir)
        store = feature_cache.load_or_compute(corpus, params, config.cache_dir, workers=config.feature_workers)
        mapping, unmapped = map_classes(corpus.classes, train_classes, label_map)
        if not mapping:
            raise CrossCorpusError(f"--config.eval.corpora entry {spec!r}: none of its classes "
                                   f"({', '.join(corpus.classes)}) maps to a training class "
                                   f"({', '.join(train_classes)}); name them with --config.eval.label_map")
        keep = np.flatnonzero(np.isin(corpus.labels, list(mapping)))
        valid = features.valid_frames(corpus.num_samples, params)
        stats = input_pipeline.corpus_speaker_statistics(config.train, corpus, store)
        stats = None if stats is None else stats[keep]
        left_out = {c: int(np.sum(corpus.labels == corpus.classes.index(c))) for c in unmapped}
        target = Target(name=f"{corpus.name} ({spec})", store=store, records=corpus.record_index[keep],
                        labels=np.asarray([mapping[int(l)] for l in corpus.labels[keep]], np.int32),
                        valid=valid[keep], speaker_stats=stats,
                        mapping={corpus.classes[j]: train_classes[i] for j, i in mapping.items()},
                        unmapped=left_out)
        out(f"cross-corpus target {target.name}: {len(target.records)} utterances, classes "
            + ", ".join(f"{a}→{b}" for a, b in target.mapping.items())
            + (f"; left out (no training class): " + ", ".join(f"{c} ({n})" for c, n in left_out.items())
               if left_out else ""))
        targets.append(target)
    return targets


def source(target: Target, test_source: input_pipeline.Source) -> input_pipeline.Source:
    """The target's utterances shaped and scaled exactly as the fold's test split."""
    return input_pipeline.Source(target.store, target.records, target.labels, test_source.scaler,
                                 test_source.shape, target.valid, None, target.speaker_stats)


def describe(target: Target) -> dict:
    """What results.json records of a target besides its figures."""
    return {"mapping": target.mapping, "left_out": target.unmapped, "utterances": int(len(target.records))}
