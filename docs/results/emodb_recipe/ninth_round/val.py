"""Validation figures of the ninth round's candidates (reads no test figure):

    python docs/results/emodb_recipe/ninth_round/val.py docs/results/emodb_recipe/ninth_round/runs base std ...
    python docs/results/emodb_recipe/ninth_round/val.py --seeds=3,4,5 docs/results/emodb_recipe/ninth_round/runs base std

For each candidate folder (seed_S/fold_NN/{result.json,log.jsonl}), over its (seed, fold) pairs:
"best" = mean validation UA of the selected epoch, "last5" = mean validation UA of the last 5 epochs.
"""

import json
import sys
from pathlib import Path

import numpy as np


def figures(run: Path, seeds=None) -> dict:
    out = {}
    for fold in sorted(run.glob("seed_*/fold_*")):
        if seeds is not None and int(fold.parent.name.split("_")[1]) not in seeds:
            continue
        if (fold / "result.json").exists():
            selected = json.loads((fold / "result.json").read_text())["val"]["ua"]
            curve = [json.loads(line)["val/ua"] for line in (fold / "log.jsonl").read_text().splitlines()]
            out[(fold.parent.name, fold.name)] = (selected, float(np.mean(curve[-5:])))
    return out


def main(root: str, names: list, seeds=None) -> None:
    for name in names:
        f = figures(Path(root) / name, seeds)
        if not f:
            print(f"{name}: no finished fold")
            continue
        a = 100 * np.array(list(f.values()))
        print(f"{name:12s} n={len(f)} best={a[:, 0].mean():.1f} last5={a[:, 1].mean():.1f}")


if __name__ == "__main__":
    args = sys.argv[1:]
    chosen = None
    if args and args[0].startswith("--seeds="):
        chosen = {int(v) for v in args.pop(0).split("=", 1)[1].split(",")}
    main(args[0], args[1:], chosen)
