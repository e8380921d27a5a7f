"""Tripathi et al. (000), S+A: softmax + λ2·reconstruction MSE (λ2 = 1.0; not reported).

    python run.py --config configs/sa.py --workdir workdir/sa
"""

from configs import base


def get_config():
    config = base.get_config()
    config.signals.reconstruction.weight = 1.0
    return config
