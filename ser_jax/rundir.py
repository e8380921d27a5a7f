"""The run folder: every file name, atomic writes, and the readers of train, predict, plots
and sweep.

    WORKDIR/config.json             the full config, written first
    WORKDIR/skipped.json            everything the corpus left out, with why (every mode)
    WORKDIR/results.json, .md       the summary over folds; plots/ its figures
    WORKDIR/fold_NN/log.jsonl       one JSON object per epoch
    WORKDIR/fold_NN/checkpoints/    Orbax: the resumable TrainState
    WORKDIR/fold_NN/tensorboard/    event files
    WORKDIR/fold_NN/model/          Orbax: the variables chosen on validation
    WORKDIR/fold_NN/model.json      what inference needs besides them (classes, scaler, SVM C)
    WORKDIR/fold_NN/embeddings.npz  every split's embeddings and labels
    WORKDIR/fold_NN/probabilities.npz  val and test class probabilities and labels (classifier heads)
    WORKDIR/fold_NN/result.json     the fold's figures (present = the fold is finished)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import ml_collections
import numpy as np

from ser_jax.errors import SerJaxError

CONFIG = "config.json"
RESULTS = "results.json"
RESULTS_MD = "results.md"
PLOTS = "plots"
LOG = "log.jsonl"
CHECKPOINTS = "checkpoints"
TENSORBOARD = "tensorboard"
MODEL = "model"
MODEL_META = "model.json"
EMBEDDINGS = "embeddings.npz"
PROBABILITIES = "probabilities.npz"
RESULT = "result.json"
SKIPPED = "skipped.json"
SPLITS = ("train", "val", "test")


def fold_dir(workdir, k: int) -> Path:
    return Path(workdir) / f"fold_{k:02d}"


def write_text(path, text: str) -> None:
    """Writes through a temporary file and a rename: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json(path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2))


def write_skipped(workdir, skipped) -> None:
    write_json(Path(workdir) / SKIPPED, list(skipped))


def read_json(path):
    return json.loads(Path(path).read_text())


# Where and how a run computes, not what: the conv weight-gradient formulation and the GRU
# loop's unroll give the same values up to float32 rounding, as the device count and the
# evaluation batch size do; how often checkpoints are written changes nothing (a resumed run
# ends as an uninterrupted one), and max_folds only says how many folds to run.
MACHINE_KEYS = ("cache_dir", "data.root", "feature_workers", "train.num_devices", "train.checkpoint_every_s",
                "train.eval_batch_size", "train.max_folds", "model.conv_weight_grad", "model.conv_gru.unroll")


def write_config(workdir, config) -> None:
    write_text(Path(workdir) / CONFIG, config.to_json_best_effort(indent=2))


def flatten(config) -> dict:
    """dotted key → value of every leaf but the machine keys."""
    flat = {}

    def walk(node, prefix):
        for key, value in node.items():
            name = f"{prefix}{key}"
            if isinstance(value, (dict, ml_collections.ConfigDict)):
                walk(value, name + ".")
            elif name not in MACHINE_KEYS:
                flat[name] = value

    walk(config, "")
    return flat


# Keys added after runs were written whose default is not the old behaviour everywhere, with
# the value that is: a run whose config.json lacks one was trained with that value.
BEFORE_KEY_EXISTED = {"train.group_by_length": 0}


def check_same_settings(workdir, config) -> None:
    """Refuses a WORKDIR that holds a run of other settings: resuming it would mix folds (or
    epochs) trained one way with folds trained another, under a config.json naming only one.
    Machine keys may differ; keys only one side has come from a newer or older ser_jax (new
    keys default to the old behaviour; those in BEFORE_KEY_EXISTED must then have their old
    value), every key both have must agree.

    Raises:
      SerJaxError: naming the differing keys with both values.
    """
    path = Path(workdir) / CONFIG
    if not path.is_file():
        return
    try:
        old = {k: json.dumps(v) for k, v in flatten(read_json(path)).items()}  # tuples and lists compare alike
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SerJaxError(f"{path} is damaged ({err}): use a new --workdir, or delete {workdir}") from None
    new = {k: json.dumps(v) for k, v in flatten(json.loads(config.to_json_best_effort())).items()}
    old.update({k: json.dumps(v) for k, v in BEFORE_KEY_EXISTED.items() if k in new and k not in old})
    changed = sorted(k for k in set(old) & set(new) if old[k] != new[k])
    if changed:
        shown = ", ".join(f"{k} {old[k]} → {new[k]}" for k in changed[:4]) + (" ..." if len(changed) > 4 else "")
        raise SerJaxError(f"{workdir} holds a run of other settings ({shown}): use a new --workdir, or delete "
                          "that folder to start over")


def read_config(workdir) -> ml_collections.ConfigDict:
    """The config a run was trained with.

    Raises:
      SerJaxError: none there, or one written before encoders and signals were separate keys.
    """
    path = Path(workdir) / CONFIG
    if not path.is_file():
        raise SerJaxError(f"{workdir} holds no {CONFIG}: train with --mode=train --workdir={workdir} first")
    config = ml_collections.ConfigDict(read_json(path))
    if "signals" not in config or "encoder" not in config.get("model", {}):
        raise SerJaxError(f"{path} was written by an older ser_jax (keys loss.*, model.name, train.task; now "
                          "config.signals.* and config.model.encoder): train it again in a new --workdir")
    return config


def finished_folds(workdir) -> list[Path]:
    """Fold folders holding a selected model, in order."""
    return sorted(d for d in Path(workdir).glob("fold_*") if (d / MODEL_META).is_file())


def read_logs(workdir) -> list[list[dict]]:
    """Each fold's log.jsonl records, in fold order."""
    return [[json.loads(line) for line in f.read_text().splitlines()]
            for f in sorted(Path(workdir).glob(f"fold_*/{LOG}"))]


def write_embeddings(fold: Path, x: dict, y: dict) -> None:
    np.savez_compressed(fold / EMBEDDINGS, **{s: x[s] for s in y}, **{f"{s}_labels": y[s] for s in y})


def read_embeddings(fold: Path) -> dict | None:
    """{split: [N, D], f"{split}_labels": [N]}, or None where the fold has none."""
    return _read_arrays(Path(fold) / EMBEDDINGS)


def _read_arrays(path: Path) -> dict | None:
    if not path.is_file():
        return None
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def write_probabilities(fold: Path, probabilities: dict, labels: dict) -> None:
    """Each split's class probabilities [N, C] (val, test) and labels [N]: what a seed ensemble
    averages (`ser_jax.ensemble`)."""
    np.savez_compressed(fold / PROBABILITIES, **probabilities, **{f"{s}_labels": labels[s] for s in probabilities})


def read_probabilities(fold: Path) -> dict | None:
    """{split: [N, C], f"{split}_labels": [N]}, or None where the fold has none."""
    return _read_arrays(Path(fold) / PROBABILITIES)


def read_results(workdir) -> dict | None:
    path = Path(workdir) / RESULTS
    return read_json(path) if path.is_file() else None
