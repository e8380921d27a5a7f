"""Lian et al. (002): pairwise discriminative task, SVM on the 256-d vectors.

Features: Hamming 20 ms with half overlap, 512-point FFT → 257 bins × 400 frames (4 s;
longer cut, shorter padded with the last frame), natural log. Seed protocol on IEMOCAP:
sessions 1–3 train, 4 validation, 5 test (--config.data.corpus=iemocap
--config.data.label_set=merged_4 --config.protocol.name=fixed_sessions).

    python run.py --config configs/pdt.py --workdir workdir/pdt --mode=describe
"""

from configs import base
from ser_jax import features


def get_config():
    config = base.get_config()
    config.features = features.preset("lian_stft")
    return config
