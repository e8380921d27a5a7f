"""Sixth round of docs/results/emodb_recipe: per seed, the best-epoch validation UA (the
selected epoch's) and the mean validation UA of the last five epochs, folds 1-3 (validation
speakers 08, 09, 10), for the rerun baseline and the two candidates under runs/, and the rule
written before they ran. Reads validation figures only.

    python docs/results/emodb_recipe/sixth_round/compare.py [RUNS]     # default: runs/ here
"""
import json
import sys
from pathlib import Path

import numpy as np

RUNS = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "runs"
SETTINGS = {"baseline (64 bands, 32 kernels)": "base", "A: 128 mel bands": "mels128", "B: 64 kernels per path": "ch64"}
SEEDS = (0, 1, 2)


def validation_curves(run: Path) -> list:
    """Each of the first three folds' validation UA per epoch (%)."""
    curves = []
    for fold in sorted(run.glob("fold_*"))[:3]:
        records = [json.loads(line) for line in (fold / "log.jsonl").read_text().splitlines()]
        curves.append([100 * r["val/ua"] for r in records if "val/ua" in r])
    if len(curves) != 3:
        sys.exit(f"error: {run} has {len(curves)} folds with a log.jsonl, not 3: let the run finish")
    return curves


def main() -> None:
    best, last = {}, {}
    print("| setting | best-epoch val UA, seed 0: fold 1 / 2 / 3 (mean) | seed 1 | seed 2 | mean of 9 | last-5 mean of 9 |")
    print("|---|---|---|---|---|---|")
    for name, folder in SETTINGS.items():
        curves = [validation_curves(RUNS / folder / f"seed_{seed}") for seed in SEEDS]
        best[name] = [np.mean([max(c) for c in seed]) for seed in curves]
        last[name] = np.mean([np.mean(c[-5:]) for seed in curves for c in seed])
        cells = [" / ".join(f"{max(c):.1f}" for c in seed) + f" ({b:.1f})" for seed, b in zip(curves, best[name])]
        print(f"| {name} | {' | '.join(cells)} | {np.mean(best[name]):.1f} | {last[name]:.1f} |")
    base = next(iter(SETTINGS))
    qualifying = []
    for name in list(SETTINGS)[1:]:
        gain = np.mean(best[name]) - np.mean(best[base])
        gain_last = last[name] - last[base]
        seeds_above = sum(a > b for a, b in zip(best[name], best[base]))
        ok = gain >= 1 and gain_last >= 0 and seeds_above >= 2
        qualifying += [(np.mean(best[name]), name)] if ok else []
        print(f"{name}: {gain:+.1f} best-epoch, {gain_last:+.1f} last five, above the baseline on {seeds_above} of 3 "
              f"seeds: {'qualifies' if ok else 'does not qualify'}")
    print(f"chosen: {max(qualifying)[1] if qualifying else 'the baseline stays'}")


if __name__ == "__main__":
    main()
