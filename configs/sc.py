"""Tripathi et al. (000), S+C: softmax + λ1·center loss, λ1 = 4 (paper's best). ≈0.26 M parameters.

    python run.py --config configs/sc.py --workdir workdir/sc
"""

from configs import base


def get_config():
    config = base.get_config()
    config.signals.center.weight = 4.0
    return config
