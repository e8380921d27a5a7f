"""Every configuration key of ser_jax, each with a comment, at the papers' settings;
`variant` applies the strong recipe every method config uses by default.

    python run.py --config configs/base.py --mode=describe
"""

import ml_collections

from ser_jax import features, input_pipeline, method


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.seed = 0  # base seed of every random choice (folds, init, batches, pairs)
    # Root of ser_jax's caches (TFDS builds and feature arrays). "" → $SER_JAX_CACHE, else
    # ~/.cache/ser_jax; resolved once, in run.py.
    config.cache_dir = ""

    config.data = ml_collections.ConfigDict()
    config.data.corpus = "emodb"  # emodb | emobox | iemocap | manifest (ser_jax/corpora/corpus.py: CORPORA)
    # Corpus folder. "" → $SER_JAX_DATA/emodb or $SER_JAX_DATA/IEMOCAP_full_release (run.py);
    # for EmoDB, still "" → download the public archive.
    config.data.root = ""
    config.data.manifest = ""  # CSV path,label,speaker[,session] when corpus=manifest
    # EmoBox corpus folder (EmoBox/data/<name>) when corpus=emobox; data.root is then the folder
    # its `wav` paths are relative to ("" → the EmoBox root, two levels above this folder).
    config.data.emobox = ""
    config.data.label_set = "improvised_4"  # IEMOCAP: improvised_4 | merged_4 | raw
    # Keep only these classes, in this order (e.g. ("anger", "happiness", "neutral",
    # "sadness") for IEMOCAP-style EmoDB); () keeps all of the corpus's classes.
    config.data.classes = ()
    config.data.min_duration_s = 0.1  # shorter clips are skipped (and listed)
    # longer files are skipped (and listed) from their header, before decoding: a small
    # compressed file can hold hours of samples; 0: no limit
    config.data.max_duration_s = 600.0
    config.data.download_url = "http://emodb.bilderbar.info/download/download.zip"  # EmoDB only
    config.data.download_sha256 = ""  # if set, the downloaded EmoDB archive must match it

    # Feature parameters (see ser_jax/features.py: FeatureParams); a preset per seed:
    # tripathi_mel, tripathi_mfcc, dai_mel, dai_stft, lian_stft.
    config.features = features.preset("tripathi_mel")
    # Tripathi et al. cut inputs at the 75th percentile of the corpus's durations (6 s on
    # IEMOCAP); on EmoDB that is ~3.3 s, where 6 s would make half of most inputs padding. So
    # features are computed at full length and cut per fold (train.crop_percentile); the
    # literal 6 s: --config.features.crop_seconds=6 --config.train.crop_percentile=0.
    config.features.crop_seconds = 0.0
    config.feature_workers = 0  # extraction processes; 0 → automatic, 1 → in-process

    config.protocol = ml_collections.ConfigDict()
    # loso | loso_session | fixed_sessions | stratified_kfold | emobox_folds (the corpus's official
    # folds; validation speakers drawn from each fold's training part)
    config.protocol.name = "loso"
    config.protocol.val_speakers = 1  # loso, emobox_folds: speakers held out for model selection per fold
    config.protocol.both_directions = True  # loso_session: test each speaker of the session once
    config.protocol.train_sessions = ("Ses01", "Ses02", "Ses03")  # fixed_sessions
    config.protocol.val_sessions = ("Ses04",)  # fixed_sessions
    config.protocol.test_sessions = ("Ses05",)  # fixed_sessions
    config.protocol.folds = 5  # stratified_kfold: k
    config.protocol.seed = 0  # stratified_kfold: shuffling seed; emobox_folds: choice of validation speakers

    # The method: an encoder (config.model.encoder, its sizes in config.model.<encoder>) and
    # the training signals whose config.signals.<name>.weight is above 0 (ser_jax/method.py).
    # Each unit's keys are commented in its module: ser_jax/encoders/<name>.py,
    # ser_jax/signals/<name>.py.
    encoders, signals = method.default_config()
    config.model = encoders
    config.model.encoder = "parallel_cnn"  # parallel_cnn (000) | conv_gru (001) | satt (002)
    # float32 | bfloat16 (compute; params and losses stay float32)
    config.model.dtype = "float32"
    # Compute dtype of the convolution stack (convolutions, their BatchNorms and pools): auto
    # (float32 on CPU, model.dtype elsewhere) | float32 | bfloat16. XLA:CPU runs bfloat16
    # convolutions no faster than float32 ones and pays conversions around them: a CPU step with
    # bfloat16 convolutions takes ~2.3× the float32 step (docs/benchmarks.md).
    config.model.conv_dtype = "auto"
    # BatchNorm running-statistics momentum. Not 0.99 (Keras/Flax default): EmoDB gives ~13
    # steps per epoch, and after 200 steps 0.99 still weighs the initial statistics 13 %.
    config.model.bn_momentum = 0.9
    # Weight gradient of every conv: auto (on CPU: `pooled` where it applies, the others' as
    # GEMMs, 1.7–8× faster than XLA's backward-filter conv; XLA on GPU) | xla | gemm | pooled
    # (the parallel CNN's convs from their pooled maxima; the CNN + BiGRU's and pairwise
    # encoder's first block — conv, BatchNorm, ReLU, pool — as one operation in float32
    # training, ser_jax/conv_block.py). Same values up to float32 rounding (and ties within a
    # parallel-CNN quadrant: pooled gives the first position the gradient; ser_jax/conv.py).
    config.model.conv_weight_grad = "auto"
    # softmax (weight 1), center, reconstruction, pairwise (weight 0: off)
    config.signals = signals

    config.optim = ml_collections.ConfigDict()
    config.optim.name = "adadelta"  # adadelta (000) | adam (001, 002) | adamw | sgd
    config.optim.learning_rate = 1.0
    config.optim.schedule = "constant"  # constant | cosine (decay to 0 over training)
    config.optim.warmup_steps = 0  # linear warm-up of the rate from 0 over this many steps
    config.optim.weight_decay = 0.0  # adamw's decoupled weight decay
    config.optim.grad_clip = 0.0  # global-norm clipping; 0: none

    config.train = ml_collections.ConfigDict()
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
    # Weight averaging: each epoch is evaluated (and the best kept) with an exponential moving
    # average of the parameters, ema ← d·ema + (1 − d)·params after every step; 0: off.
    config.train.ema_decay = 0.0
    config.train.input_scaling = "minmax"  # minmax | standardize | none, training-fold statistics
    # One shift and scale per frequency bin / coefficient (False: one for all bins, as the
    # first release did); fitted on the training fold's valid frames (padding left out).
    config.train.scaling_per_bin = True
    # Before that scaling: none | utterance (each utterance's bins standardised by its own
    # valid frames' mean and std: uses nothing but the utterance itself) | speaker (by its
    # speaker's statistics over all that speaker's audio, the test speaker's included: the
    # standard transductive speaker normalisation; results.md says so in its title; predict
    # refuses such a run)
    config.train.normalize = "none"
    config.train.bucket_frames = 100  # variable length: pad to a multiple of this
    config.train.max_frames = 0  # variable length: crop to this many frames; 0: no crop
    # Variable length (no crop_percentile): training batches of utterances (not pairs) cut from
    # pools of this many batches sorted by length, so each pads to lengths like its own (the
    # strong recipe: 8); 0: plain shuffled batches
    config.train.group_by_length = 0
    # Variable-length features (features.crop_seconds=0) cut or zero-padded to one length:
    # this percentile of the training fold's utterance lengths (Tripathi et al.'s rule: 75);
    # 0: off. Evaluation and predict take each utterance's start, or eval_windows windows:
    config.train.crop_percentile = 75.0
    # With crop_percentile: evaluation (validation, test) and predict cut a longer utterance at
    # this many evenly spaced offsets, start to end, and average the class probabilities (the
    # embeddings where an SVM predicts) over them; 1: the start only
    config.train.eval_windows = 1
    config.train.mixup_alpha = 0.0  # mixup of training batches, λ ~ Beta(α, α) (e.g. 0.2); 0: off
    # Training utterances stretched in frequency by a factor from [1 − w, 1 + w] before scaling (a
    # feature-domain VTLP: input_pipeline.freq_warp), e.g. 0.1; 0: off
    config.train.freq_warp = 0.0
    config.train.random_crop = True  # with crop_percentile: training cuts longer utterances at random offsets
    # SpecAugment-style masks on training inputs (bands set to 0 after scaling); 0 masks: off
    config.train.spec_augment = ml_collections.ConfigDict(
        {"time_masks": 0, "max_time": 10, "freq_masks": 0, "max_freq": 8})
    # Where an SVM on the embeddings predicts (the pairwise task, or no classifier head): its
    # C values, chosen on validation.
    config.train.svm_c = (0.1, 1.0, 10.0)
    config.train.svm_kernel = "rbf"  # rbf | linear (the eGeMAPS reference's)

    # Cross-corpus evaluation (ser_jax/cross_corpus.py): each fold's selected model also scored on
    # every utterance of these corpora, each written as `;`-separated overrides of config.data,
    # e.g. ("corpus=manifest;manifest=male.csv", "corpus=emobox;emobox=EmoBox/data/emovo").
    config.eval = ml_collections.ConfigDict()
    config.eval.corpora = ()
    # Their labels → training classes, on top of the common spellings (angry/anger/ang,
    # happy/happiness/hap/joy ...): e.g. "Angry=anger,hap=happiness".
    config.eval.label_map = ""
    return config


VARIANTS = ("strong", "paper")


def variant(config: ml_collections.ConfigDict, name: str | None) -> ml_collections.ConfigDict:
    """The method configs' two settings (`configs/sac.py` or `configs/sac.py:paper`):

    - `paper`: the seed's own settings, unchanged;
    - `strong` (the default): the paper's method (encoder, signals, λs) trained with the
      strong recipe below, chosen on validation speakers (docs/results/emodb_recipe/).
    """
    name = name or "strong"
    if name not in VARIANTS:
        raise ValueError(f"config variant {name!r}: choose one of {VARIANTS} (e.g. configs/sac.py:paper)")
    return config if name == "paper" else strong_recipe(config)


def strong_recipe(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """AdamW with warm-up and cosine decay, weight decay, label smoothing, center loss averaged
    over the embedding's dimensions with a warm-up; for the parallel CNN also a smaller input
    and network, which validation preferred and which keep the 10 folds of EmoDB under 30
    minutes on 2 CPU cores; for the pairwise task (002) shorter inputs, fewer pairs and
    epochs, to make its 30 EmoDB runs affordable on the CPU, with the rate chosen on
    validation; variable-length training batches grouped by length (a speed choice: the CNN +
    BiGRU's padding drops from 615 to 375 frames a batch on EmoDB). Every other choice was
    made on validation speakers only. configs/dai.py (001) sets its center loss back to the
    paper's scale afterwards, which validation preferred for it."""
    config.optim.name = "adamw"
    if config.optim.learning_rate == 1.0:  # Adadelta's rate (000): AdamW's, chosen on validation
        config.optim.learning_rate = 3e-3
    config.optim.weight_decay = 0.01
    config.optim.schedule = "cosine"
    config.optim.warmup_steps = 40  # ~3 epochs of EmoDB at batch 32
    config.signals.softmax.label_smoothing = 0.1
    config.signals.center.reduce = "mean"  # λ1 means the same whatever the embedding size
    config.signals.center.warmup_steps = 100
    if not input_pipeline.fixed_size(config):  # variable-length inputs (001): less padding, same epochs
        config.train.group_by_length = 8
    if config.model.encoder == "parallel_cnn":
        config.features.n_mels = 64
        config.model.parallel_cnn.channels = 32
        config.train.epochs = 40
        # each bin standardised rather than min-max scaled (+2.1 validation UA over both
        # conditions, 6 seeds; docs/results/emodb_recipe, ninth round), so the decoder of S+A and
        # S+A+C is linear, with λ2 = 0.03 (on validation: 0.03 and 1 tied, min-max with 1 below)
        config.train.input_scaling = "standardize"
        if config.signals.reconstruction.weight:
            config.signals.reconstruction.output = "linear"
            if config.signals.reconstruction.weight == 1.0:  # the paper's λ2 (000): the one chosen on validation
                config.signals.reconstruction.weight = 0.03
    if config.model.encoder == "satt":  # the pairwise task's encoder (002)
        # full-length features cut per fold at the 75th percentile (331 frames on EmoDB, not 4 s),
        # random crops in training; one pair per training utterance and epoch (not 3) and 30
        # epochs, so an EmoDB fold takes ~28 min on one core rather than ~70; AdamW at 3e-4 (on
        # validation, 3e-4 and 1e-3 tied: 65.5 and 64.7 % UA; the lower kept)
        config.features.crop_seconds = 0.0
        config.features.fixed_frames = 0
        config.train.crop_percentile = 75.0
        config.signals.pairwise.pairs_per_utterance = 1.0
        config.train.epochs = 30
        config.optim.learning_rate = 3e-4
    return config
