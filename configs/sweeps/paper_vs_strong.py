"""Each method with its paper's settings against the same method with the strong recipe (the
issue-15 table "paper recipe vs strong recipe"), EmoDB, leave-one-speaker-out, 3 seeds.

For each method of configs/sweeps/methods.py: "<method>, paper" (configs/<m>.py:paper) and
"<method>" (configs/<m>.py, the strong recipe) compared with it fold by fold (ΔUA, Wilcoxon p);
the eGeMAPS + SVM reference is in the table too. The strong variants carry the names and
settings of configs/sweeps/methods.py, so in that sweep's workdir its finished runs are reused
and only the paper runs train:

    python run.py --config configs/sweeps/paper_vs_strong.py --workdir workdir/methods --mode=sweep

At the papers' sizes a parallel-CNN run is ~1.5 min of an H100 and ~10 h of one CPU core
(docs/benchmarks.md): a GPU job. --config.only="('S, paper','S')" runs a subset.
"""

import ml_collections

from configs import egemaps_svm, s
from configs.sweeps import methods
from ser_jax import sweep as sweeps


def get_config():
    sweep = ml_collections.ConfigDict()
    sweep.title = f"EmoDB, leave-one-speaker-out: each method's paper settings and strong recipe, with {methods.REFERENCE}"
    sweep.base = s.get_config()
    sweep.seeds = (0, 1, 2)
    sweep.only = ()
    sweep.reference = methods.REFERENCE
    between = lambda config: sweeps.settings_between(sweep.base, config)  # noqa: E731
    variants = [(methods.REFERENCE, "", between(egemaps_svm.get_config()))]
    for name, _, module in methods.METHODS:
        variants.append((f"{name}, paper", "", between(module.get_config("paper"))))
        variants.append((name, f"{name}, paper", between(module.get_config())))
    sweep.variants = tuple(variants)
    sweep.curves = ()
    sweep.embedding_figures = False
    sweep.ensemble = True
    return sweep
