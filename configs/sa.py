"""Tripathi et al. (000), S+A: softmax + λ2·reconstruction MSE (λ2 = 1.0; not reported by the
paper; against 0.3 and 3 on validation speakers: no difference, docs/results/emodb_recipe).

    python run.py --config configs/sa.py --workdir workdir/sa                # strong recipe (default)
    python run.py --config configs/sa.py:paper --workdir workdir/sa_paper    # the paper's settings

(what the strong recipe changes: configs/base.py, strong_recipe)
"""

from configs import base


def get_config(variant=None):
    config = base.get_config()
    config.signals.reconstruction.weight = 1.0
    return base.variant(config, variant)
