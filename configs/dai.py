"""Dai et al. (001): CNN + BiGRU, class-weighted softmax + center loss with moving centers.

Features: Hamming 40 ms, shift 10 ms, DFT 1024, 128 mel bands (--config.features.kind=stft
for the 513-bin STFT setting), variable length. Protocol of the seed: stratified random
5-fold, the held-out fold halved into dev and test. On EmoDB the default here is
leave-one-speaker-out instead (--config.protocol.name=stratified_kfold for the seed's).

    python run.py --config configs/dai.py --workdir workdir/dai --mode=describe
"""

from configs import base
from ser_jax import features


def get_config():
    config = base.get_config()
    config.features = features.preset("dai_mel")
    return config
