"""Mean ± std test UA of each run of a sweep folder over the folds whose test speaker never
served to choose the recipe (docs/results/emodb_recipe: validation speakers 08, 09, 10).

    python docs/results/emodb_methods/clean_folds.py WORKDIR
"""

import json
import sys
from pathlib import Path

import numpy as np

TUNING_SPEAKERS = ("08", "09", "10")


def main(workdir: str) -> None:
    for results in sorted(Path(workdir).glob("runs/*/seed_*/results.json")):
        folds = json.loads(results.read_text())["folds"]
        clean = [f["test"]["ua"] for f in folds if f["fold"].split()[0].removeprefix("test=") not in TUNING_SPEAKERS]
        every = [f["test"]["ua"] for f in folds]
        print(f"{results.parent.parent.name}/{results.parent.name}: UA over all {len(every)} folds "
              f"{100 * np.mean(every):.1f} ± {100 * np.std(every):.1f}; over the {len(clean)} folds "
              f"never used for tuning {100 * np.mean(clean):.1f} ± {100 * np.std(clean):.1f}")


if __name__ == "__main__":
    main(sys.argv[1])
