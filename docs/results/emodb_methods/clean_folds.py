"""Mean ± std test UA of each run of a sweep folder, of each variant's (seed, fold) runs
together, and of each variant's seed ensemble (where it has several seeds with class
probabilities), over all folds and over the folds whose test speaker never served to choose the
recipe (docs/results/emodb_recipe: validation speakers 08, 09, 10).

    python docs/results/emodb_methods/clean_folds.py WORKDIR
"""

import json
import sys
from pathlib import Path

import numpy as np

from ser_jax import ensemble, rundir

TUNING_SPEAKERS = ("08", "09", "10")


def _line(name: str, folds: list, unit: str = "folds") -> str:
    clean = [f["test"]["ua"] for f in folds if f["fold"].split()[0].removeprefix("test=") not in TUNING_SPEAKERS]
    every = [f["test"]["ua"] for f in folds]
    def pct(values):
        return f"{100 * np.mean(values):.1f} ± {100 * np.std(values):.1f}"

    return (f"{name}: UA over all {len(every)} {unit} {pct(every)}; "
            f"over the {len(clean)} {unit} never used for tuning {pct(clean)}")


def main(workdir: str) -> None:
    for results in sorted(Path(workdir).glob("runs/*/seed_*/results.json")):
        print(_line(f"{results.parent.parent.name}/{results.parent.name}", json.loads(results.read_text())["folds"]))
    for variant in sorted(Path(workdir).glob("runs/*")):
        finished = sorted(variant.glob("seed_*/results.json"))
        if len(finished) > 1:  # every (seed, fold) run of the variant together: the table's "30 runs" rows
            runs = [f for r in finished for f in json.loads(r.read_text())["folds"]]
            print(_line(f"{variant.name}, {len(finished)} seeds", runs, unit="runs"))
        members = sorted(d for d in variant.glob("seed_*")  # finished seeds (results.json) with probabilities
                         if (d / rundir.RESULTS).exists() and rundir.read_probabilities(d / "fold_00") is not None)
        if len(members) > 1:
            classes = json.loads((members[0] / rundir.RESULTS).read_text())["classes"]
            print(_line(f"{variant.name}, seed ensemble of {len(members)}", ensemble.fold_results(members, classes)))


if __name__ == "__main__":
    main(sys.argv[1])
