"""Per-epoch training CE and validation UA of two runs of a sweep folder, averaged over the (seed, fold)
pairs both have finished, with the mean validation UA of the selected epoch on the validation speakers
the recipe was tuned on (08, 09, 10) and on the others, and the choice between the two for each fold
made without that fold's test speaker. Reads only the kept log.jsonl and result.json
files; trains nothing.

    python docs/results/emodb_methods/val_curves.py RUNS_DIR RUN_A RUN_B
    # e.g. RUNS_DIR=docs/results/emodb_methods/runs, RUN_A="CNN+BiGRU+center_001_,_paper", RUN_B=CNN+BiGRU+center_001
"""

import json
import sys
from pathlib import Path

import numpy as np
from clean_folds import TUNING_SPEAKERS  # this folder's script: the speakers the recipe was tuned on
from scipy.stats import wilcoxon

from ser_jax import rundir


def _fold(fold_dir: Path) -> dict:
    result = rundir.read_json(fold_dir / rundir.RESULT)
    logs = [json.loads(line) for line in (fold_dir / rundir.LOG).read_text().splitlines()]
    return {"test_speaker": result["fold"].split("test=")[1].split()[0],
            "val_speaker": result["fold"].split("val=")[1], "selected_val_ua": result["val"]["ua"],
            "val_ua": [entry["val/ua"] for entry in logs], "ce": [entry["loss/ce"] for entry in logs]}


def _finished(run: Path) -> dict:
    return {(seed.name, fold.name): _fold(fold) for seed in sorted(run.glob("seed_*")) if (seed / rundir.RESULTS).exists()
            for fold in sorted(seed.glob("fold_*"))}


def main(runs_dir: str, run_a: str, run_b: str) -> None:
    a, b = _finished(Path(runs_dir) / run_a), _finished(Path(runs_dir) / run_b)
    pairs = sorted(set(a) & set(b))
    if not pairs:
        sys.exit(f"{runs_dir}: no (seed, fold) finished by both {run_a} and {run_b}; finish a seed of each first")
    epochs = min(len(side[k]["val_ua"]) for side in (a, b) for k in pairs)
    print(f"{len(pairs)} paired (seed, fold) runs; epochs 1-{epochs}")
    for name, side in ((run_a, a), (run_b, b)):
        val = np.array([side[k]["val_ua"][:epochs] for k in pairs])
        ce = np.array([side[k]["ce"][:epochs] for k in pairs])
        marks = range(0, epochs, 5)
        print(f"{name}\n  val UA: " + " ".join(f"{e + 1}:{100 * val[:, e].mean():.1f}" for e in marks)
              + f"  | mean of the last 10 epochs {100 * val[:, -10:].mean():.1f}"
              + f"\n  training CE: " + " ".join(f"{e + 1}:{ce[:, e].mean():.3f}" for e in marks)
              + f"  | last {ce[:, -1].mean():.3f}")
    for label, keep in (("all validation speakers", lambda s: True),
                        ("tuning speakers 08-10", lambda s: s in TUNING_SPEAKERS),
                        ("the other validation speakers", lambda s: s not in TUNING_SPEAKERS)):
        chosen = [k for k in pairs if keep(a[k]["val_speaker"])]
        va = np.array([a[k]["selected_val_ua"] for k in chosen])
        vb = np.array([b[k]["selected_val_ua"] for k in chosen])
        test = wilcoxon(vb, va).pvalue if len(chosen) > 1 and np.any(va != vb) else float("nan")
        print(f"selected-epoch val UA, {label} ({len(chosen)} runs): {run_a} {100 * va.mean():.1f}, "
              f"{run_b} {100 * vb.mean():.1f}, B - A {100 * (vb - va).mean():+.1f}, Wilcoxon p = {test:.3g}")
    # The choice per fold that keeps the fold's test speaker out: made on the runs whose validation
    # speaker is not that test speaker. Rows: test speakers; columns: A, B.
    choices = np.array([[np.mean([side[k]["selected_val_ua"] for k in pairs if a[k]["val_speaker"] != speaker])
                         for side in (a, b)] for speaker in sorted({a[k]["test_speaker"] for k in pairs})])
    picks_b = int((choices[:, 1] > choices[:, 0]).sum())
    low, high = 100 * choices.min(axis=0), 100 * choices.max(axis=0)
    print(f"per-fold choice without the fold's test speaker ({len(choices)} folds): {run_a} {len(choices) - picks_b}, "
          f"{run_b} {picks_b}; validation UA {run_a} {low[0]:.1f}-{high[0]:.1f}, {run_b} {low[1]:.1f}-{high[1]:.1f}")

if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
