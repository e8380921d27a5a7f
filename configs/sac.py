"""Tripathi et al. (000): parallel CNN, softmax + center loss + reconstruction (S+A+C).

Data: EmoDB, leave-one-speaker-out (IEMOCAP: --config.data.corpus=iemocap
--config.protocol.name=loso_session). Features: 16 kHz, Hann window = FFT 2048, hop 512,
128 mel bands (or --config.features.kind=mfcc for 40 MFCC), 6 s zero-padded → 188 frames.

    python run.py --config configs/sac.py --workdir workdir/sac --mode=describe
"""

from configs import base


def get_config():
    config = base.get_config()
    return config
