"""Dai et al. (001) on EmoDB, leave-one-speaker-out, 3 seeds: with and without center loss
on log-mel and on STFT inputs, and the λ and α sweeps of the talk (on log-mel).

    python run.py --config configs/sweeps/dai.py --workdir workdir/dai_sweep --mode=sweep

Overrides for every variant go under --config.base (e.g. --config.base.train.epochs=20).
"""

import ml_collections

from configs import dai


def get_config():
    sweep = ml_collections.ConfigDict()
    sweep.title = "Dai et al. (001): CNN + BiGRU with and without center loss on EmoDB"
    sweep.base = dai.get_config()
    sweep.seeds = (0, 1, 2)
    sweep.only = ()
    variants = []
    lam, alpha = "signals.center.weight", "signals.center.alpha"
    for feats, kind in (("mel", "logmel"), ("STFT", "stft")):
        inputs = (f"features.kind='{kind}'", f"features.name='dai_{kind.replace('log', '')}'")
        variants.append((f"softmax {feats}", "", inputs + (f"{lam}=0.0",)))
        variants.append((f"center {feats}", f"softmax {feats}", inputs + (f"{lam}=0.3", f"{alpha}=0.5")))
    mel = ("features.kind='logmel'", "features.name='dai_mel'")
    for value in (0.01, 0.1, 1.0):
        variants.append((f"center mel λ={value}", "softmax mel", mel + (f"{lam}={value}", f"{alpha}=0.5")))
    for value in (0.1, 0.9):
        variants.append((f"center mel α={value}", "softmax mel", mel + (f"{lam}=0.3", f"{alpha}={value}")))
    sweep.variants = tuple(variants)
    sweep.curves = ((lam, ("softmax mel", "center mel λ=0.01", "center mel λ=0.1", "center mel",
                           "center mel λ=1.0")),
                    (alpha, ("center mel α=0.1", "center mel", "center mel α=0.9")))
    sweep.embedding_figures = True
    return sweep
