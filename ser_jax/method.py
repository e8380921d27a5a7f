"""A method = an encoder + training signals with weights, read from the config and checked.

`config.model.encoder` names the encoder (`ser_jax.encoders.ENCODERS`); every signal of
`ser_jax.signals.SIGNALS` whose `config.signals.<name>.weight` is above 0 is on. The paper
configs are combinations (configs/*.py); any other is one config line, e.g. the pairwise task
on the parallel CNN:

    --config.model.encoder=parallel_cnn --config.signals.softmax.weight=0 --config.signals.pairwise.weight=1

`check(config)` refuses a combination that cannot work, naming the keys, when the config is
read (run.py, sweeps, train_and_evaluate, describe), never at trace time.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from ser_jax import conv, input_pipeline, layers
from ser_jax.encoders import ENCODERS
from ser_jax.errors import SerJaxError
from ser_jax.signals import SIGNALS


def default_config() -> tuple[ml_collections.ConfigDict, ml_collections.ConfigDict]:
    """(config.model's encoder subtrees, config.signals): every registered unit's defaults."""
    model = ml_collections.ConfigDict({name: make() for name, (_, make) in ENCODERS.items()})
    signals = ml_collections.ConfigDict({name: make() for name, (_, make) in SIGNALS.items()})
    return model, signals


class Network(nn.Module):
    """The flax module of a method: the encoder, then each signal's head.

    `__call__(x [B', T, F], lengths [B'], train, pairs)` returns {"embedding": float32 [B', D],
    and the heads' outputs ("logits", "reconstruction", "pair_logits" ...)}. With
    `pairs=True`, B' = 2B utterances form B pairs (first members, then second members).
    """

    encoder: object
    signals: tuple
    num_classes: int

    @nn.compact
    def __call__(self, x, lengths, *, train: bool, pairs: bool = False) -> dict:
        enc = self.encoder(x, lengths, train=train)
        out = {"embedding": enc.embedding.astype(jnp.float32)}
        for signal in self.signals:
            out.update(signal.head(enc, x, encoder=self.encoder, num_classes=self.num_classes, train=train,
                                   pairs=pairs))
        return out


@dataclasses.dataclass(frozen=True)
class Method:
    """An encoder and the signals that are on, in registry order (hashable: safe to bind).

    Attributes:
      encoder: a `ser_jax.encoders.Encoder`.
      signals: `ser_jax.signals.Signal`s.
    """

    encoder: object
    signals: tuple

    def network(self, num_classes: int) -> Network:
        return Network(self.encoder, self.signals, num_classes)

    @property
    def pairs(self) -> bool:
        """Training batches are pairs (a signal samples them)."""
        return self.batch_signal is not None

    @property
    def batch_signal(self):
        """The signal whose own sampler makes the training batches, or None (utterances)."""
        return next((s for s in self.signals if s.batch != "utterances"), None)

    @property
    def predicts(self) -> str:
        """`logits` (a classifier head) or `vectors` (an SVM on the embeddings: the pairwise
        task, or a method with no classifier such as reconstruction alone)."""
        return next((s.predicts for s in self.signals if s.predicts), "vectors")

    def selection_score(self, summary: dict) -> float:
        """Validation figure the best epoch maximises: UA, or minus the reconstruction MSE for
        a method no signal of which predicts classes (000's "A only", Table 2)."""
        if any(s.predicts for s in self.signals) or "recon_mse" not in summary:
            return summary["ua"]
        return -summary["recon_mse"]

    def init_state(self, *, num_classes: int, train_labels) -> dict:
        """Every signal's state (only signals that carry one appear)."""
        states = {s.name: s.init_state(num_classes=num_classes, embed_dim=self.encoder.embed_dim,
                                       train_labels=train_labels) for s in self.signals}
        return {name: state for name, state in states.items() if state}

    def init_params(self, params: dict, train_source) -> dict:
        """Initial parameters after each signal's data-dependent adjustment (if any)."""
        for signal in self.signals:
            params = signal.init_params(params, train_source)
        return params

    def batches(self, source, batch_size: int, *, seed: int, epoch: int):
        """Training batches of one epoch (pairs when a signal samples them)."""
        if self.batch_signal is not None:
            return self.batch_signal.batches(source, batch_size, seed=seed, epoch=epoch)
        return input_pipeline.train_batches(source, batch_size, seed=seed, epoch=epoch)

    def batches_per_epoch(self, num_utterances: int, batch_size: int) -> int:
        if self.batch_signal is not None:
            return self.batch_signal.batches_per_epoch(num_utterances, batch_size)
        return num_utterances // batch_size

    def count_params(self, num_classes: int, frames: int, bins: int) -> int:
        """Trainable parameters for inputs of frames × bins (as training builds them)."""
        n = 2 if self.pairs else 1
        x, lengths = jnp.zeros((n, frames, bins), jnp.float32), jnp.full((n,), frames, jnp.int32)
        network = self.network(num_classes)
        shapes = jax.eval_shape(lambda: network.init(jax.random.PRNGKey(0), x, lengths, train=False,
                                                     pairs=self.pairs))
        return layers.count_params(shapes.get("params", {}))

    def describe(self) -> str:
        """e.g. `parallel_cnn + softmax(1) + center(4) + reconstruction(1)`; `identity → SVM`."""
        name = next(k for k, (cls, _) in ENCODERS.items() if isinstance(self.encoder, cls))
        if not self.signals:
            return f"{name} → SVM"
        return " + ".join([name] + [f"{s.name}({s.weight:g})" for s in self.signals])


def check(config) -> None:
    """Refuses, in one line naming the keys, a config whose method cannot work."""
    encoder = _encoder(config)
    names = [name for name in SIGNALS if config.signals[name].weight]
    for key in ("batch_size", "eval_batch_size", "epochs", "max_folds"):
        value = config.train[key]
        least = 0 if key == "max_folds" or (key == "epochs" and not names) else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise SerJaxError(f"--config.train.{key}={value!r}: must be a whole number >= {least}")
    _check_trainable(config, encoder, names)
    negative = [name for name in SIGNALS if config.signals[name].weight < 0]
    if negative:
        raise SerJaxError(f"--config.signals.{negative[0]}.weight is negative")
    kinds = {SIGNALS[name][0].batch: name for name in names}
    if len(kinds) > 1:
        a, b = sorted(kinds.values())
        raise SerJaxError(f"--config.signals.{a}.weight and --config.signals.{b}.weight are both > 0, but they "
                          f"train on different batches ({SIGNALS[a][0].batch}, {SIGNALS[b][0].batch}): turn one off")
    input_pipeline.normalization(config.train)
    alpha = config.train.get("mixup_alpha", 0.0)
    if alpha < 0 or (alpha and any(SIGNALS[n][0].batch != "utterances" for n in names)):
        raise SerJaxError(f"--config.train.mixup_alpha={alpha}: must be >= 0, and 0 when a signal trains on "
                          "pairs (mixup mixes utterance batches)")
    if config.features.crop_seconds and config.train.get("crop_percentile", 0):
        raise SerJaxError("--config.train.crop_percentile cuts variable-length features, but "
                          "--config.features.crop_seconds > 0 makes them fixed-length: set one of them to 0")
    warp = config.train.get("freq_warp", 0.0)
    if not 0 <= warp < 1:
        raise SerJaxError(f"--config.train.freq_warp={warp}: a relative stretch in [0, 1) (e.g. 0.1); 0: off")
    group = config.train.get("group_by_length", 0)
    if group < 0:
        raise SerJaxError(f"--config.train.group_by_length={group}: batches per length-sorted pool (e.g. 8); 0: off")
    windows = config.train.get("eval_windows", 1)
    if windows != 1 and not config.train.get("crop_percentile", 0):
        raise SerJaxError(f"--config.train.eval_windows={windows} cuts evaluation windows from utterances longer "
                          "than --config.train.crop_percentile's length, which is 0 (off): set it > 0 (e.g. 75), or "
                          "eval_windows=1")
    if encoder.needs_fixed_length and not input_pipeline.fixed_size(config):
        raise SerJaxError(f"--config.model.encoder={config.model.encoder} needs fixed-length features: set "
                          "--config.features.crop_seconds > 0 or --config.train.crop_percentile > 0")
    for name in names:
        SIGNALS[name][0].check(config, encoder)


def _check_trainable(config, encoder, names) -> None:
    """A network needs a training signal; `identity` (an SVM on the features) takes none, and
    eGeMAPS functionals (one vector per utterance) go to nothing else."""
    e = config.model.encoder
    if config.features.kind == "egemaps" and encoder.trainable:
        raise SerJaxError(f"--config.features.kind=egemaps gives one vector of functionals per utterance, which "
                          f"--config.model.encoder={e} cannot read: use --config.model.encoder=identity")
    if not encoder.trainable and names:
        raise SerJaxError(f"--config.model.encoder={e} has nothing to train: set "
                          f"--config.signals.{names[0]}.weight=0 (an SVM on the features predicts)")
    if encoder.trainable and not names:
        raise SerJaxError("no training signal is on: set a --config.signals.<name>.weight > 0 "
                          f"(names: {', '.join(SIGNALS)})")
    if config.features.kind == "egemaps" and input_pipeline.normalization(config.train) == "utterance":
        raise SerJaxError("--config.train.normalize=utterance standardises an utterance over its frames; eGeMAPS "
                          "functionals have one: use none or speaker")


def from_config(config) -> Method:
    """The method `config` describes (checked first)."""
    check(config)
    signals = tuple(cls.from_config(config.signals[name]) for name, (cls, _) in SIGNALS.items()
                    if config.signals[name].weight)
    return Method(_encoder(config), signals)


def _encoder(config):
    m = config.model
    if m.encoder not in ENCODERS:
        raise SerJaxError(f"unknown --config.model.encoder={m.encoder!r}: choose one of {', '.join(ENCODERS)}")
    cls, _ = ENCODERS[m.encoder]
    try:
        conv.resolve(m.conv_weight_grad, pooled=cls.pools_convs)
    except ValueError as err:
        raise SerJaxError(f"--config.model.conv_weight_grad: {err}") from None
    try:
        conv_dtype = conv.resolve_dtype(m.conv_dtype, m.dtype)
    except ValueError as err:
        raise SerJaxError(f"--config.model.conv_dtype: {err}") from None
    encoder = cls.from_config(m[m.encoder], dtype=jnp.dtype(m.dtype), conv_dtype=conv_dtype,
                              bn_momentum=m.bn_momentum, conv_weight_grad=m.conv_weight_grad)
    try:
        encoder.check()
    except ValueError as err:
        raise SerJaxError(f"--config.model.{m.encoder}.{err}") from None
    return encoder
