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

    config.model = ml_collections.ConfigDict()
    config.model.name = "parallel_cnn"  # parallel_cnn (000) | conv_gru (001) | pairwise (002)
    config.model.dtype = "float32"  # float32 | bfloat16 (compute; params and losses stay float32)
    # BatchNorm running-statistics momentum. Not 0.99 (Keras/Flax default): EmoDB gives ~13
    # steps per epoch, and after 200 steps 0.99 still weighs the initial statistics 13 %.
    config.model.bn_momentum = 0.9
    # Weight gradient of every conv: auto (GEMMs on CPU, where they are 1.7–8× faster than
    # XLA's backward-filter conv; XLA on GPU) | xla | gemm. Same values up to float32 rounding.
    config.model.conv_weight_grad = "auto"
    pc = config.model.parallel_cnn = ml_collections.ConfigDict()
    pc.kernel_sizes = ((4, 6), (6, 8), (8, 10), (10, 12))  # (time, freq) per path, paper
    pc.channels = 200  # kernels per path, paper
    pc.embed_dim = 64  # embedding (center loss acts here), paper
    pc.dropout = 0.5  # paper tried 0.25–0.75
    pc.recon_dim = 64  # reconstruction branch FC + BN width (not given: same as the embedding)
    pc.decoder_dims = (256,)  # decoder hidden FCs before the sigmoid output (not given)
    cg = config.model.conv_gru = ml_collections.ConfigDict()
    cg.conv_channels = (32, 64)  # conv blocks (figure missing from the talk)
    cg.gru_units = 128  # per direction, talk
    cg.z_dim = 128  # FC1 output z (not given)
    cg.dropout = 0.3
    cg.unroll = 0  # GRU steps per loop iteration; 0: 25 on GPU/TPU, 1 on CPU (same results)
    pw = config.model.pairwise = ml_collections.ConfigDict()
    pw.conv_channels = (16, 32, 32, 64, 64)  # 5 Satt-style conv layers (figure missing)
    pw.kernel = (3, 3)
    pw.embed_dim = 256  # paper
    pw.hidden = 128  # discriminator FC, paper

    config.loss = ml_collections.ConfigDict()
    config.loss.softmax_weight = 1.0  # S; 0 gives the "A only" model of Table 2
    config.loss.center_weight = 0.0  # λ1 (000) / λ (001); 0 disables center loss and updates
    config.loss.center_norm = "l2"  # l2 (eq. 1) | l1 (the variant the paper mentions)
    config.loss.center_rule = "wen"  # wen | moving_mean (001)
    config.loss.center_alpha = 0.5  # center update rate α
    config.loss.recon_weight = 0.0  # λ2 (000); 0 disables reconstruction (A)
    config.loss.class_weighted = False  # ω_j ∝ 1/n_j from the training fold (001)
    config.loss.cos_weight = 0.9  # λ of 002: L = λ·L_cos + (1 − λ)·L_CE (paper best 0.9)
    config.loss.margin = 0.1  # m of the cosine-margin loss (paper best 0.1)

    config.optim = ml_collections.ConfigDict()
    config.optim.name = "adadelta"  # adadelta (000) | adam (001, 002) | sgd
    config.optim.learning_rate = 1.0
    config.optim.schedule = "constant"  # constant | cosine (decay to 0 over training)
    config.optim.grad_clip = 0.0  # global-norm clipping; 0: none

    config.train = ml_collections.ConfigDict()
    config.train.task = "classify"  # classify | pairwise (002)
    config.train.epochs = 50
    config.train.batch_size = 32
    config.train.eval_batch_size = 64
    # Devices the batch is split over (jax.sharding, 1-D mesh); 0: every visible device.
    # Both batch sizes must be multiples of it.
    config.train.num_devices = 0
    config.train.max_folds = 0  # run only the first N folds (quick looks); 0: all
    # Seconds of training between resumable checkpoints (a kill loses at most this much of
    # the fold); 0: after every epoch. A full S+A+C state is 76 MB: saving it every epoch
    # took longer than the epoch itself on a GPU.
    config.train.checkpoint_every_s = 60.0
    config.train.input_scaling = "minmax"  # minmax | standardize | none, training-fold statistics
    config.train.bucket_frames = 100  # variable length: pad to a multiple of this
    config.train.max_frames = 0  # variable length: crop to this many frames; 0: no crop
    config.train.pairs_per_epoch = 0  # pairwise: pairs drawn per epoch; 0: 3 × training utterances
    config.train.same_fraction = 1 / 3  # pairwise: share of same-emotion pairs (paper)
    config.train.svm_c = (0.1, 1.0, 10.0)  # pairwise: SVM C values, chosen on validation
    return config
