"""Tripathi et al. (000), S: softmax only (the Table 1 baseline).

    python run.py --config configs/s.py --workdir workdir/s                # strong recipe (default)
    python run.py --config configs/s.py:paper --workdir workdir/s_paper    # the paper's settings

The strong recipe (configs/base.py: strong_recipe) keeps the method (encoder, signals, λs) and
trains it with AdamW, warm-up and cosine decay, weight decay, label smoothing and center loss
averaged over the embedding's dimensions, on 64 mel bands with 32 kernels per path.
"""

from configs import base


def get_config(variant=None):
    return base.variant(base.get_config(), variant)
