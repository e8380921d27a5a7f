"""`--mode=status`: where a run, or each run of a sweep, stands, without training anything.

Reads only the workdir's files (config.json, each fold's result.json and log.jsonl,
results.json) and the corpus's folds, so it can watch a run another process is training.
"""

from __future__ import annotations

import json
from pathlib import Path

from ser_jax import protocols, rundir, sweep
from ser_jax.corpora import load_corpus
from ser_jax.errors import SerJaxError


def run_status(config, workdir, num_folds: int) -> str:
    """One line: not started, of other settings than `config` (the refusal training would give),
    finished (its mean test UA), or how far it got."""
    workdir = Path(workdir)
    if not (workdir / rundir.CONFIG).is_file():
        return "not started"
    try:
        rundir.check_same_settings(workdir, config)
    except SerJaxError as err:
        return str(err)
    results = rundir.read_results(workdir)
    if results is not None:
        return (f"finished: {len(results['folds'])} folds, test UA {100 * results['mean']['ua']:.1f} ± "
                f"{100 * results['std']['ua']:.1f} %")
    done = sum((rundir.fold_dir(workdir, k) / rundir.RESULT).is_file() for k in range(num_folds))
    line = f"{done} of {num_folds} folds done"
    if done < num_folds:
        log = rundir.fold_dir(workdir, done) / rundir.LOG
        epochs = [json.loads(x)["epoch"] for x in log.read_text().splitlines() if x.strip()] if log.is_file() else []
        line += f"; fold {done + 1} at epoch {epochs[-1] if epochs else 0} of {config.train.epochs}"
    return line


def folds_of(config) -> int:
    """How many folds a run of `config` trains (its protocol on its corpus, `train.max_folds`)."""
    folds = len(protocols.make_folds(config.protocol, load_corpus(config.data, config.cache_dir)))
    return min(folds, config.train.max_folds) if config.train.max_folds else folds


def report(config, workdir, *, out=print) -> list[str]:
    """Prints and returns one line per run: `config` is an experiment (its run in WORKDIR) or a
    sweep (each variant × seed under WORKDIR/runs)."""
    runs = ([(f"{r.variant} seed {r.seed}", r.config, r.workdir) for r in sweep.expand(config, workdir)]
            if "variants" in config else [(str(workdir), config, Path(workdir))])
    counts: dict = {}
    lines = []
    for label, run_config, run_dir in runs:
        key = json.dumps([run_config.data.to_dict(), run_config.protocol.to_dict(), run_config.train.max_folds],
                         sort_keys=True, default=str)
        if key not in counts:
            counts[key] = folds_of(run_config)
        lines.append(f"{label}: {run_status(run_config, run_dir, counts[key])}")
        out(lines[-1])
    return lines
