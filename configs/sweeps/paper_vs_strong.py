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

`paper_vs_strong.py:cpu` compares the two recipes on the same network where the strong recipe
also shrank it: the parallel CNN's paper settings at the strong recipe's input and width (64
mel bands, 32 kernels a path; ~4 min a fold on a core shared with another run), named
"S, paper recipe (64 bands, 32 kernels)" and so on; and the pairwise task's (002) paper
recipe (Adam at 1e-4, no schedule, weight decay or label smoothing) on the strong recipe's
data and length of training (inputs cut per fold at the 75th percentile with random training
crops, one pair per training utterance and epoch, 30 epochs; ~20–28 min a fold on one core, where
the paper's 4 s inputs, 3 pairs and 50 epochs take ~70), named "pairwise task + SVM (002),
paper recipe (75th-percentile crops, 1 pair, 30 epochs)". The CNN + BiGRU is the same network
under both recipes: its variants are those of the default.

    python run.py --config configs/sweeps/paper_vs_strong.py:cpu --workdir workdir/methods --mode=sweep \
        --config.only="('eGeMAPS + SVM','S, paper recipe (64 bands, 32 kernels)','S')"
"""

import ml_collections

from configs import egemaps_svm, s
from configs.sweeps import methods
from ser_jax import sweep as sweeps


SIZES = ("paper", "cpu")


def get_config(sizes=None):
    sizes = sizes or "paper"
    if sizes not in SIZES:
        raise ValueError(f"configs/sweeps/paper_vs_strong.py:{sizes}: choose one of {SIZES}")
    sweep = ml_collections.ConfigDict()
    sweep.title = ("EmoDB, leave-one-speaker-out: each method's paper settings and strong recipe, with "
                   f"{methods.REFERENCE}" + (" (the parallel CNN's paper recipe at the strong recipe's size)"
                                             if sizes == "cpu" else ""))
    sweep.base = s.get_config()
    sweep.seeds = (0, 1, 2)
    sweep.only = ()
    sweep.reference = methods.REFERENCE
    between = lambda config: sweeps.settings_between(sweep.base, config)  # noqa: E731
    variants = [(methods.REFERENCE, "", between(egemaps_svm.get_config()))]
    for name, _, module in methods.METHODS:
        paper, strong = module.get_config("paper"), module.get_config()
        paper_name = f"{name}, paper"
        if sizes == "cpu" and paper.model.encoder == "parallel_cnn":
            paper.features.n_mels = strong.features.n_mels
            paper.model.parallel_cnn.channels = strong.model.parallel_cnn.channels
            paper_name += f" recipe ({paper.features.n_mels} bands, {paper.model.parallel_cnn.channels} kernels)"
        if sizes == "cpu" and paper.model.encoder == "satt":
            paper.features.crop_seconds = strong.features.crop_seconds
            paper.features.fixed_frames = strong.features.fixed_frames
            paper.train.crop_percentile = strong.train.crop_percentile
            paper.signals.pairwise.pairs_per_utterance = strong.signals.pairwise.pairs_per_utterance
            paper.train.epochs = strong.train.epochs
            paper_name += (f" recipe ({paper.train.crop_percentile:g}th-percentile crops, "
                           f"{paper.signals.pairwise.pairs_per_utterance:g} pair, {paper.train.epochs} epochs)")
        variants.append((paper_name, "", between(paper)))
        variants.append((name, paper_name, between(strong)))
    sweep.variants = tuple(variants)
    sweep.curves = ()
    sweep.embedding_figures = False
    sweep.ensemble = True
    return sweep
