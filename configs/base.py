"""Every configuration key of ser_jax, each with a comment. Experiments override these.

    python run.py --config configs/base.py --mode=describe
"""

import ml_collections

from ser_jax import features


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.seed = 0  # base seed of every random choice (folds, init, batches, pairs)
    # Root of ser_jax's caches (TFDS builds and feature arrays). "" → $SER_JAX_CACHE, else
    # ~/.cache/ser_jax; resolved once, in run.py.
    config.cache_dir = ""

    config.data = ml_collections.ConfigDict()
    config.data.corpus = "emodb"  # emodb | iemocap | manifest
    # Corpus folder. "" → $SER_JAX_DATA/emodb or $SER_JAX_DATA/IEMOCAP_full_release (run.py);
    # for EmoDB, still "" → download the public archive.
    config.data.root = ""
    config.data.manifest = ""  # CSV path,label,speaker[,session] when corpus=manifest
    config.data.label_set = "improvised_4"  # IEMOCAP: improvised_4 | merged_4 | raw
    # Keep only these classes, in this order (e.g. ("anger", "happiness", "neutral",
    # "sadness") for IEMOCAP-style EmoDB); () keeps all of the corpus's classes.
    config.data.classes = ()
    config.data.min_duration_s = 0.1  # shorter clips are skipped (and listed)
    config.data.download_url = "http://emodb.bilderbar.info/download/download.zip"  # EmoDB only
    config.data.download_sha256 = ""  # if set, the downloaded EmoDB archive must match it

    # Feature parameters (see ser_jax/features.py: FeatureParams); a preset per seed:
    # tripathi_mel, tripathi_mfcc, dai_mel, dai_stft, lian_stft.
    config.features = features.preset("tripathi_mel")
    config.feature_workers = 0  # extraction processes; 0 → automatic, 1 → in-process

    config.protocol = ml_collections.ConfigDict()
    config.protocol.name = "loso"  # loso | loso_session | fixed_sessions | stratified_kfold
    config.protocol.val_speakers = 1  # loso: speakers held out for model selection per fold
    config.protocol.both_directions = True  # loso_session: test each speaker of the session once
    config.protocol.train_sessions = ("Ses01", "Ses02", "Ses03")  # fixed_sessions
    config.protocol.val_sessions = ("Ses04",)  # fixed_sessions
    config.protocol.test_sessions = ("Ses05",)  # fixed_sessions
    config.protocol.folds = 5  # stratified_kfold: k
    config.protocol.seed = 0  # stratified_kfold: shuffling seed
    return config
