"""Tiny S+A+C settings for CPU tests: EmoDB's 4 IEMOCAP-style classes, 1 s inputs of 32
mel bands, 8 kernels per path, 2 folds, 2 epochs. Not for reporting.

    python run.py --config configs/test.py --workdir workdir/test
"""

from configs import base


def get_config():
    config = base.get_config()
    config.data.classes = ("anger", "happiness", "neutral", "sadness")
    config.features.crop_seconds = 1.0  # 32 frames instead of 188: fast tests
    config.train.crop_percentile = 0.0  # (fixed-length features are not cut again)
    config.features.n_mels = 32
    config.model.parallel_cnn.channels = 8
    config.signals.reconstruction.decoder_dims = (32,)
    config.signals.center.weight = 4.0
    config.signals.reconstruction.weight = 1.0
    config.train.epochs = 2
    config.train.max_folds = 2
    return config
