"""The classic reference: openSMILE's eGeMAPSv02 functionals (88 per utterance) and an SVM.

No network (`identity` encoder, every training signal off): a linear SVM (class-balanced,
features standardised on the training fold) on the functionals, its C chosen on the
validation speaker, refitted on train + validation, tested once. Same corpus, protocol,
folds and result files as every method; a sweep includes it as a variant
(`ser_jax.sweep.settings_between(sweep.base, get_config())`) and names it `sweep.reference` to
compare every method with it (configs/sweeps/methods.py). The functionals
go through the feature cache like any preset. The SVM has no randomness: every seed gives
the same figures.

    python run.py --config configs/egemaps_svm.py --workdir workdir/egemaps_svm
    # with per-speaker normalisation (transductive: each speaker's functionals z-normalised
    # with that speaker's statistics, the test speaker's unlabelled audio included):
    python run.py --config configs/egemaps_svm.py --workdir workdir/egemaps_svm_spk --config.train.normalize=speaker
"""

import dataclasses

from configs import base
from ser_jax import features

# What turns any config into the reference (the features: every field of the preset)
REFERENCE = {
    **{f"features.{f.name}": getattr(features.PRESETS["egemaps"], f.name)
       for f in dataclasses.fields(features.FeatureParams)},
    "model.encoder": "identity",
    "signals.softmax.weight": 0.0,
    "signals.center.weight": 0.0,
    "signals.reconstruction.weight": 0.0,
    "signals.pairwise.weight": 0.0,
    "train.crop_percentile": 0.0,  # one vector per utterance: nothing to cut
    "train.bucket_frames": 1,
    "train.input_scaling": "standardize",
    "train.svm_kernel": "linear",
    "train.svm_c": (0.001, 0.01, 0.1, 1.0, 10.0),
}


def get_config():
    config = base.get_config()
    config.update_from_flattened_dict(REFERENCE)
    return config
