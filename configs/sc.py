"""Tripathi et al. (000), S+C: softmax + λ1·center loss, λ1 = 4 (paper's best; under the strong
recipe ~2 points above 1 and 16 on validation speakers, docs/results/emodb_recipe). ≈0.26 M parameters.

    python run.py --config configs/sc.py --workdir workdir/sc                # strong recipe (default)
    python run.py --config configs/sc.py:paper --workdir workdir/sc_paper    # the paper's settings

(what the strong recipe changes: configs/base.py, strong_recipe)
"""

from configs import base


def get_config(variant=None):
    config = base.get_config()
    config.signals.center.weight = 4.0
    return base.variant(config, variant)
