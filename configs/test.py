"""Tiny settings for CPU tests: EmoDB restricted to the 4 IEMOCAP-style classes.

    python run.py --config configs/test.py --mode=describe
"""

from configs import base


def get_config():
    config = base.get_config()
    config.data.classes = ("anger", "happiness", "neutral", "sadness")
    config.features.crop_seconds = 2.0  # 63 frames instead of 188: fast tests
    return config
