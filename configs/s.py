"""Tripathi et al. (000), S: softmax only (the Table 1 baseline).

    python run.py --config configs/s.py --workdir workdir/s                # strong recipe (default)
    python run.py --config configs/s.py:paper --workdir workdir/s_paper    # the paper's settings

(what the strong recipe changes: configs/base.py, strong_recipe)
"""

from configs import base


def get_config(variant=None):
    return base.variant(base.get_config(), variant)
