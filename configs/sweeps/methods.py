"""Every method's default config against the classic reference (eGeMAPS + SVM) on EmoDB,
leave-one-speaker-out, 3 seeds: the table README.md shows first.

Variants: the eGeMAPS + linear SVM reference (configs/egemaps_svm.py), S, S+A, S+C, S+A+C
(configs/{s,sa,sc,sac}.py: ΔUA against S), CNN + BiGRU + center loss (configs/dai.py) and
the pairwise task (configs/pdt.py); every one is also compared with the reference fold by
fold (ΔUA, Wilcoxon p).

    python run.py --config configs/sweeps/methods.py --workdir workdir/methods --mode=sweep
    python run.py --config configs/sweeps/methods.py:paper --workdir workdir/methods_paper --mode=sweep
    # with per-speaker normalisation (transductive: uses each test speaker's unlabelled audio):
    python run.py --config configs/sweeps/methods.py --workdir workdir/methods_spk --mode=sweep \
        --config.base.train.normalize=speaker

With several seeds, each method that trains a network also gets a row for its seed ensemble:
the seeds' class probabilities averaged fold by fold (ser_jax/ensemble.py; for the pairwise
task, its SVMs' calibrated probabilities), no extra training.

Variants are stored as the settings that turn `base` (configs/s.py) into each method's
config, so `--config.base.<key>=...` changes every variant that does not set that key itself.
"""

import ml_collections

from configs import dai, egemaps_svm, pdt, s, sa, sac, sc
from ser_jax import sweep as sweeps

REFERENCE = "eGeMAPS + SVM"
# (variant name, its baseline, its config module): the methods of the table, in its order
METHODS = (("S", "", s), ("S+A", "S", sa), ("S+C", "S", sc), ("S+A+C", "S", sac),
           ("CNN+BiGRU+center (001)", "", dai), ("pairwise task + SVM (002)", "", pdt))


def get_config(variant=None):
    sweep = ml_collections.ConfigDict()
    sweep.title = f"EmoDB, leave-one-speaker-out: each method ({variant or 'strong'} recipe) against {REFERENCE}"
    sweep.base = s.get_config(variant)
    sweep.seeds = (0, 1, 2)
    sweep.only = ()
    sweep.reference = REFERENCE
    between = lambda config: sweeps.settings_between(sweep.base, config)  # noqa: E731
    sweep.variants = ((REFERENCE, "", between(egemaps_svm.get_config())),) + tuple(
        (name, baseline, between(module.get_config(variant))) for name, baseline, module in METHODS)
    sweep.curves = ()
    sweep.embedding_figures = False
    # a row for each method's seed ensemble (its seeds' class probabilities averaged per fold)
    sweep.ensemble = True
    return sweep
