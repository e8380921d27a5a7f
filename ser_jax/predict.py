"""Inference with a finished run: class probabilities and embeddings of any audio files.

A run folder (`ser_jax.rundir`) holds, per fold, the variables chosen on validation
(`model/`), the training fold's input scaling and class names (`model.json`) and, where an
SVM predicts (the pairwise task), the train+val vectors it is fitted on (`embeddings.npz`);
`config.json` holds the feature, encoder and signal settings it was trained with. Features
go through `input_pipeline.prepare`, the input path of training. Each fold's model is a model of the
corpus trained without one speaker; `predict` averages their probabilities (or uses the
folds named).

    run = predict.load_run("workdir/sac")
    predict.predict(run, ["a.wav", "b.flac"])   # [{"path", "probabilities", "label"} | {"path", "error"}]
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from ser_jax import audio, checkpointing, features, input_pipeline, method, rundir, svm
from ser_jax.errors import SerJaxError


@dataclasses.dataclass(frozen=True)
class TrainedFold:
    """One fold's selected model.

    Attributes:
      name: the fold's name (e.g. `test=03 val=08`).
      variables: params and batch_stats.
      scaler: the training fold's input scaling.
      crop_frames: the fold's fixed input length where it cut variable-length features (0: none).
      classifier: where an SVM predicts (`Method.predicts == "vectors"`): the probabilistic
        SVM on the fold's train+val vectors; else None (the network's classifier head).
    """

    name: str
    variables: dict
    scaler: input_pipeline.Scaler
    crop_frames: int = 0
    classifier: Any = None


@dataclasses.dataclass(frozen=True)
class TrainedRun:
    """What inference needs from a run folder (see `load_run`)."""

    config: ml_collections.ConfigDict
    classes: tuple
    params: features.FeatureParams
    shape: input_pipeline.InputShape
    network: Any
    folds: tuple


def load_run(workdir, folds: Sequence[int] | None = None) -> TrainedRun:
    """Reads a run folder written by `train.train_and_evaluate`.

    Args:
      workdir: the run's folder.
      folds: indices of the folds to use; None → every finished fold.

    Raises:
      SerJaxError: no config.json, or no finished fold (train first).
    """
    config = rundir.read_config(workdir)
    if input_pipeline.normalization(config.train) == "speaker":
        raise SerJaxError(f"{workdir} was trained with per-speaker normalisation (--config.train.normalize=speaker), "
                          "which needs each file's speaker's statistics: predict with a run trained with "
                          "--config.train.normalize=utterance or none")
    fold_dirs = rundir.finished_folds(workdir)
    if folds is not None:
        wanted = {rundir.fold_dir(workdir, k).name for k in folds}
        missing = wanted - {d.name for d in fold_dirs}
        if missing:
            raise SerJaxError(f"{workdir}: no finished {', '.join(sorted(missing))}")
        fold_dirs = [d for d in fold_dirs if d.name in wanted]
    if not fold_dirs:
        raise SerJaxError(f"{workdir} holds no finished fold (fold_*/{rundir.MODEL_META}): let training finish one")
    trained = method.from_config(config)
    loaded, classes = [], None
    for d in fold_dirs:
        meta = rundir.read_json(d / rundir.MODEL_META)
        classes = tuple(meta["classes"])
        stored = checkpointing.load_model(d / rundir.MODEL, meta.get("variables_sha256", ""))
        classifier = None
        if trained.predicts == "vectors":
            emb = rundir.read_embeddings(d)
            x = np.concatenate([emb["train"], emb["val"]])
            y = np.concatenate([emb["train_labels"], emb["val_labels"]])
            classifier = svm.fit_probabilistic(x, y, meta["svm_c"], meta.get("svm_kernel", "rbf"))
        loaded.append(TrainedFold(name=meta["fold"],
                                  variables={"params": stored["params"], "batch_stats": stored.get("batch_stats", {})},
                                  scaler=input_pipeline.Scaler(**meta["scaler"]),
                                  crop_frames=int(meta.get("crop_frames", 0)), classifier=classifier))
    params = features.FeatureParams.from_config(config.features)
    return TrainedRun(config=config, classes=classes, params=params,
                      shape=input_pipeline.InputShape.from_config(config.train, params),
                      network=trained.network(len(classes)), folds=tuple(loaded))


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
    """For each path: an error message, or [(probabilities [C], embedding [D]) per fold], all finite."""
    apply = _apply_fn(run)
    for path in paths:
        try:
            wav, _ = audio.load_audio(path, sample_rate=run.params.sample_rate,
                                      min_duration_s=run.config.data.min_duration_s,
                                      max_duration_s=run.config.data.get("max_duration_s", audio.MAX_DURATION_S))
        except audio.AudioError as err:
            yield f"{err.reason}: {err.detail}. Fix: {err.fix}"
            continue
        feats = features.extract(wav, run.params)
        outputs = []
        for fold in run.folds:
            shape = dataclasses.replace(run.shape, crop_frames=fold.crop_frames)
            windows = shape.windows_for(len(feats))
            valid = features.valid_frames([len(wav)], run.params)
            outs = [apply(fold.variables, *map(jnp.asarray, input_pipeline.prepare(
                [feats], fold.scaler, shape, valid, window=w))) for w in range(windows)]
            probs = np.mean([np.asarray(p) for p, _ in outs], axis=0)  # over evaluation windows, as in training
            emb = np.mean([np.asarray(e[0]) for _, e in outs], axis=0)
            if fold.classifier is not None and np.isfinite(emb).all():
                probs = _svm_probabilities(fold.classifier, emb, len(run.classes))
            probs = np.asarray(probs).reshape(-1)
            if not (np.isfinite(probs).all() and np.isfinite(emb).all()):
                outputs = f"the model of fold {fold.name} gave non-finite outputs (a damaged or diverged model): " \
                          "retrain it, or leave it out with --folds"
                break
            outputs.append((probs, emb))
        yield outputs


def _apply_fn(run: TrainedRun):
    """jitted (variables, x [1, T, F], lengths [1]) → (probabilities [1, C] or [1, 0] where an
    SVM predicts, embedding [1, D])."""

    def apply(variables, x, lengths):
        out = run.network.apply(variables, x, lengths, train=False)
        probs = jax.nn.softmax(out["logits"], axis=-1) if "logits" in out else jnp.zeros((1, 0))
        return probs, out["embedding"]

    return jax.jit(apply)


def _svm_probabilities(classifier, emb: np.ndarray, num_classes: int) -> np.ndarray:
    probs = np.zeros(num_classes)
    probs[classifier.classes_] = classifier.predict_proba(emb[None])[0]
    return probs
