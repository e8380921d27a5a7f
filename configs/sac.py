"""Tripathi et al. (000), S+A+C: softmax + λ1·center loss + λ2·reconstruction MSE.

Paper: 4 parallel conv paths of 200 kernels (4×6, 6×8, 8×10, 10×12), 64-d embedding,
Adadelta, λ1 = 4 (best of 0.001–5), λ2 tuned (not reported: 1.0 here), 6 s inputs of 128
log-mel bands (--config.features=... or --config.features.kind=mfcc for 40 MFCC).
Data here: EmoDB, leave-one-speaker-out (IEMOCAP: --config.data.corpus=iemocap
--config.protocol.name=loso_session).

    python run.py --config configs/sac.py --workdir workdir/sac                # strong recipe (default)
    python run.py --config configs/sac.py:paper --workdir workdir/sac_paper    # the paper's settings

(what the strong recipe changes: configs/base.py, strong_recipe)
"""

from configs import base


def get_config(variant=None):
    config = base.get_config()
    config.signals.center.weight = 4.0
    config.signals.reconstruction.weight = 1.0
    return base.variant(config, variant)
