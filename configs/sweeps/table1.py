"""Tripathi et al. (000) Table 1 and Table 2 on EmoDB, leave-one-speaker-out, 3 seeds.

S, S+A, S+C and S+A+C with 128 log-mel bands and with 40 MFCCs (each compared with S on
the same features), and A (reconstruction only, softmax off, selected on validation MSE;
its UA is an SVM's on the embeddings) for Table 2's reconstruction MSE. Settings of configs/sac.py otherwise (λ1 = 4,
λ2 = 1, Adadelta, 50 epochs, 200 kernels per path, 6 s inputs).

    python run.py --config configs/sweeps/table1.py --workdir workdir/table1 --mode=sweep

Every key of the base config can be overridden for all variants, e.g. a reduced CPU run:
    --config.base.model.parallel_cnn.channels=32 --config.base.train.epochs=20
and --config.only="('S mel','S+A+C mel')" runs a subset, --config.seeds="(0,)" one seed.
"""

import ml_collections

from configs import base


def get_config():
    sweep = ml_collections.ConfigDict()
    sweep.title = "Tripathi et al. (000): softmax, center loss and reconstruction on EmoDB"
    sweep.base = base.get_config()
    sweep.seeds = (0, 1, 2)
    sweep.only = ()
    variants = []
    for feats, kind in (("mel", "logmel"), ("MFCC", "mfcc")):
        inputs = (f"features.kind='{kind}'", f"features.name='tripathi_{kind.replace('log', '')}'")
        center, recon = ("signals.center.weight=4.0",), ("signals.reconstruction.weight=1.0",)
        variants.append((f"S {feats}", "", inputs))
        variants.append((f"S+A {feats}", f"S {feats}", inputs + recon))
        variants.append((f"S+C {feats}", f"S {feats}", inputs + center))
        variants.append((f"S+A+C {feats}", f"S {feats}", inputs + center + recon))
        variants.append((f"A {feats}", "", inputs + recon + ("signals.softmax.weight=0.0",)))
    sweep.variants = tuple(variants)
    sweep.curves = ()
    sweep.embedding_figures = True
    return sweep
