"""Inference with a finished run: class probabilities and embeddings of any audio files.

A run folder holds, per fold, the variables chosen on validation (`model/`), the
training fold's input scaling and class names (`model.json`) and, for the pairwise task,
the train+val vectors its SVM is fitted on (`embeddings.npz`); `config.json` holds the
feature and model settings it was trained with. Each fold's model is a model of the
corpus trained without one speaker; `predict` averages their probabilities (or uses the
folds named).

    run = predict.load_run("workdir/sac")
    predict.predict(run, ["a.wav", "b.flac"])   # [{"path", "probabilities", "label"} | {"path", "error"}]
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from ser_jax import audio, checkpointing, features, input_pipeline, models, svm
from ser_jax.errors import SerJaxError


@dataclasses.dataclass(frozen=True)
class TrainedFold:
    """One fold's selected model.

    Attributes:
      name: the fold's name (e.g. `test=03 val=08`).
      variables: params and batch_stats.
      scaler: the training fold's input scaling.
      classifier: pairwise task only: the probabilistic SVM on train+val vectors.
    """

    name: str
    variables: dict
    scaler: input_pipeline.Scaler
    classifier: Any = None


@dataclasses.dataclass(frozen=True)
class TrainedRun:
    """What inference needs from a run folder (see `load_run`)."""

    config: ml_collections.ConfigDict
    classes: tuple
    params: features.FeatureParams
    model: Any
    folds: tuple

    @property
    def pairwise(self) -> bool:
        return self.config.train.task == "pairwise"


def load_run(workdir, folds: Sequence[int] | None = None) -> TrainedRun:
    """Reads a run folder written by `train.train_and_evaluate`.

    Args:
      workdir: the run's folder.
      folds: indices of the folds to use; None → every finished fold.

    Raises:
      SerJaxError: no config.json, or no finished fold (train first).
    """
    workdir = Path(workdir)
    if not (workdir / "config.json").is_file():
        raise SerJaxError(f"{workdir} holds no config.json: train with --mode=train --workdir={workdir} first")
    config = ml_collections.ConfigDict(json.loads((workdir / "config.json").read_text()))
    fold_dirs = sorted(d for d in workdir.glob("fold_*") if (d / "model.json").is_file())
    if folds is not None:
        wanted = {f"fold_{k:02d}" for k in folds}
        missing = wanted - {d.name for d in fold_dirs}
        if missing:
            raise SerJaxError(f"{workdir}: no finished {', '.join(sorted(missing))}")
        fold_dirs = [d for d in fold_dirs if d.name in wanted]
    if not fold_dirs:
        raise SerJaxError(f"{workdir} holds no finished fold (fold_*/model.json): let training finish one")
    loaded, classes = [], None
    for d in fold_dirs:
        meta = json.loads((d / "model.json").read_text())
        classes = tuple(meta["classes"])
        stored = checkpointing.load_model(d / "model")
        classifier = None
        if config.train.task == "pairwise":
            emb = np.load(d / "embeddings.npz")
            x = np.concatenate([emb["train"], emb["val"]])
            y = np.concatenate([emb["train_labels"], emb["val_labels"]])
            classifier = svm.fit_probabilistic(x, y, meta["svm_c"])
        loaded.append(TrainedFold(name=meta["fold"],
                                  variables={"params": stored["params"], "batch_stats": stored.get("batch_stats", {})},
                                  scaler=input_pipeline.Scaler(**meta["scaler"]), classifier=classifier))
    model, _ = models.for_run(config, len(classes))
    return TrainedRun(config=config, classes=classes, params=features.FeatureParams.from_config(config.features),
                      model=model, folds=tuple(loaded))


def predict(run: TrainedRun, paths: Sequence[str]) -> list[dict]:
    """Class probabilities of each file, averaged over the run's folds.

    Returns:
      One entry per path, in order: {"path", "probabilities": {class: p}, "label"}, or
      {"path", "error"} for a file that cannot be read or is too short; the others still run.
    """
    entries = []
    for path, outcome in zip(paths, _per_fold_outputs(run, paths)):
        if isinstance(outcome, str):
            entries.append({"path": str(path), "error": outcome})
            continue
        probs = np.mean([p for p, _ in outcome], axis=0)
        entries.append({"path": str(path),
                        "probabilities": {c: float(v) for c, v in zip(run.classes, probs)},
                        "label": run.classes[int(np.argmax(probs))]})
    return entries


def embed(run: TrainedRun, paths: Sequence[str]) -> tuple[list[str], np.ndarray, dict]:
    """Embeddings of each readable file under every fold's model.

    Returns:
      (paths embedded, float32 [N, folds, D] embeddings, {path: error} of the others).
    """
    done, vectors, errors = [], [], {}
    for path, outcome in zip(paths, _per_fold_outputs(run, paths)):
        if isinstance(outcome, str):
            errors[str(path)] = outcome
        else:
            done.append(str(path))
            vectors.append(np.stack([e for _, e in outcome]))
    dim = vectors[0].shape[-1] if vectors else 0
    return done, (np.stack(vectors) if vectors else np.zeros((0, len(run.folds), dim), np.float32)), errors


def _per_fold_outputs(run: TrainedRun, paths):
    """For each path: an error message, or [(probabilities [C], embedding [D]) per fold]."""
    apply = _apply_fn(run)
    for path in paths:
        try:
            wav, _ = audio.load_audio(path, sample_rate=run.params.sample_rate,
                                      min_duration_s=run.config.data.min_duration_s)
        except audio.AudioError as err:
            yield f"{err.reason}: {err.detail}. Fix: {err.fix}"
            continue
        feats = features.extract(wav, run.params)
        if not run.params.fixed_length and run.config.train.max_frames:
            feats = feats[:run.config.train.max_frames]
        length = feats.shape[0]
        frames = length if run.params.fixed_length else -(-length // run.config.train.bucket_frames) * \
            run.config.train.bucket_frames
        outputs = []
        for fold in run.folds:
            x = np.zeros((1, frames, feats.shape[1]), np.float32)
            x[0, :length] = fold.scaler(feats)
            probs, emb = apply(fold.variables, jnp.asarray(x), jnp.asarray([length], jnp.int32))
            emb = np.asarray(emb[0])
            if fold.classifier is not None:
                probs = _svm_probabilities(fold.classifier, emb, len(run.classes))
            outputs.append((np.asarray(probs).reshape(-1), emb))
        yield outputs


def _apply_fn(run: TrainedRun):
    """jitted (variables, x [1, T, F], lengths [1]) → (probabilities [1, C], embedding [1, D])."""
    model = run.model

    def apply(variables, x, lengths):
        if run.pairwise:
            emb = model.apply(variables, x, train=False, method=models.PairwiseModel.embed)
            return jnp.zeros((1, 0)), emb
        args = (x, lengths) if isinstance(model, models.ConvGRU) else (x,)
        logits, aux = model.apply(variables, *args, train=False)
        return jax.nn.softmax(logits, axis=-1), aux["embedding"]

    return jax.jit(apply)


def _svm_probabilities(classifier, emb: np.ndarray, num_classes: int) -> np.ndarray:
    probs = np.zeros(num_classes)
    probs[classifier.classes_] = classifier.predict_proba(emb[None])[0]
    return probs
