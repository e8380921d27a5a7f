"""Fifth round of docs/results/emodb_recipe: best-epoch validation UA of folds 1-3 (validation
speakers 08, 09, 10) per seed, for the defaults (the first 3 folds of their 10-fold runs in
docs/results/emodb_methods/runs) and the λ candidates (runs/ here), and the rule written
before the candidates ran. Reads each fold's "val" figures only.

    python docs/results/emodb_recipe/fifth_round/compare.py
"""
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
METHODS = HERE.parents[1] / "emodb_methods" / "runs"
SETTINGS = {"S+C, λ1 = 4 (default)": METHODS / "S+C", "S+C, λ1 = 1": HERE / "runs" / "sc_l1_1",
            "S+C, λ1 = 16": HERE / "runs" / "sc_l1_16", "S+A, λ2 = 1 (default)": METHODS / "S+A",
            "S+A, λ2 = 0.3": HERE / "runs" / "sa_l2_0.3", "S+A, λ2 = 3": HERE / "runs" / "sa_l2_3"}
CANDIDATES = {"S+C, λ1 = 4 (default)": ("S+C, λ1 = 1", "S+C, λ1 = 16"),
              "S+A, λ2 = 1 (default)": ("S+A, λ2 = 0.3", "S+A, λ2 = 3")}


def validation_ua(run: Path) -> list:
    folds = json.loads((run / "results.json").read_text())["folds"][:3]
    return [100 * fold["val"]["ua"] for fold in folds]


def main() -> None:
    per_seed = {}
    print("| setting | seed 0: fold 1 / 2 / 3 (mean) | seed 1 | seed 2 | mean of 9 |\n|---|---|---|---|---|")
    for name, folder in SETTINGS.items():
        values = [validation_ua(folder / f"seed_{seed}") for seed in range(3)]
        per_seed[name] = [np.mean(v) for v in values]
        cells = [" / ".join(f"{x:.1f}" for x in v) + f" ({np.mean(v):.1f})" for v in values]
        print(f"| {name} | {' | '.join(cells)} | {np.mean(per_seed[name]):.1f} |")
    for default, candidates in CANDIDATES.items():
        for name in candidates:
            gain = np.mean(per_seed[name]) - np.mean(per_seed[default])
            seeds_above = sum(a > b for a, b in zip(per_seed[name], per_seed[default]))
            verdict = "replaces the default" if gain >= 1 and seeds_above >= 2 else "does not qualify"
            print(f"{name}: {gain:+.1f} points against the default, above it on {seeds_above} of 3 seeds: {verdict}")


if __name__ == "__main__":
    main()
