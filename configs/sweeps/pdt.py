"""Lian et al. (002) on EmoDB, leave-one-speaker-out, 3 seeds: the pairwise discriminative
task with an SVM on the learned vectors against the "traditional" end-to-end classifier
with the same encoder.

    python run.py --config configs/sweeps/pdt.py --workdir workdir/pdt_sweep --mode=sweep
"""

import ml_collections

from configs import pdt


def get_config():
    sweep = ml_collections.ConfigDict()
    sweep.title = "Lian et al. (002): pairwise discriminative task against end-to-end on EmoDB"
    sweep.base = pdt.get_config()
    sweep.seeds = (0, 1, 2)
    sweep.only = ()
    sweep.variants = (("end-to-end", "", ("signals.pairwise.weight=0.0", "signals.softmax.weight=1.0")),
                      ("pairwise + SVM", "end-to-end", ()))
    sweep.curves = ()
    sweep.embedding_figures = True
    return sweep
