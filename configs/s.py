"""Tripathi et al. (000), S: softmax only (the Table 1 baseline).

    python run.py --config configs/s.py --workdir workdir/s
"""

from configs import base


def get_config():
    return base.get_config()
