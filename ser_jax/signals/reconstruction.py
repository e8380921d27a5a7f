"""Reconstruction of the scaled input through a decoder on the encoder's trunk (000's A)."""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax.numpy as jnp
import ml_collections
import numpy as np

from ser_jax import input_pipeline, layers, losses
from ser_jax.errors import SerJaxError
from ser_jax.signals.base import Signal


def default_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.weight = 0.0  # λ2 (000); 0 turns reconstruction and its decoder off
    c.hidden = 64  # the branch's FC + BN width (not given: same as the embedding)
    c.decoder_dims = (256,)  # decoder hidden FCs before the output layer (not given)
    # Start the output layer's bias at each input cell's training-fold mean (its logit under a
    # sigmoid), so the decoder starts where a constant predictor would end (mean) rather than at
    # 0.5 or 0 (zero).
    c.init_bias = "mean"
    # The decoder's output layer: sigmoid (the paper: its target, the input min-max scaled to
    # [0, 1], needs --config.train.input_scaling=minmax) | linear (any scaling, e.g. standardize)
    c.output = "sigmoid"
    return c


OUTPUTS = ("sigmoid", "linear")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Reconstruction(Signal):
    """FC + BN + ReLU (+ the encoder's head dropout) on the trunk → decoder FCs → sigmoid (or
    linear) output of the input's shape; the loss is its MSE against the (scaled) input.

    Attributes:
      hidden: width of the branch's FC + BN layer.
      decoder_dims: hidden FC layers of the decoder before the output layer.
      init_bias: `zero` (flax's default) or `mean`: the output bias starts at each cell's
        training-fold mean (its logit under a sigmoid): the decoder starts at the per-cell-mean
        predictor.
      output: `sigmoid` (the paper; min-max scaled targets) or `linear`.
    """

    name = "reconstruction"

    hidden: int = 64
    decoder_dims: tuple = (256,)
    init_bias: str = "zero"
    output: str = "sigmoid"

    @classmethod
    def from_config(cls, c) -> "Reconstruction":
        init_bias = c.get("init_bias", "zero")  # runs saved before the key: zero
        if init_bias not in ("zero", "mean"):
            raise SerJaxError(f"--config.signals.reconstruction.init_bias={init_bias!r}: zero | mean")
        output = c.get("output", "sigmoid")  # runs saved before the key: sigmoid
        if output not in OUTPUTS:
            raise SerJaxError(f"--config.signals.reconstruction.output={output!r}: {' | '.join(OUTPUTS)}")
        return cls(weight=c.weight, hidden=c.hidden, decoder_dims=tuple(c.decoder_dims), init_bias=init_bias,
                   output=output)

    def init_params(self, params, train_source):
        if self.init_bias == "zero":
            return params
        total, n = 0.0, len(train_source)
        for start in range(0, n, 64):  # scaled training inputs, a chunk at a time
            total = total + train_source.features_of(np.arange(start, min(start + 64, n)))[0].sum(axis=0, dtype=np.float64)
        mean = total / n
        if self.output == "sigmoid":
            mean = np.clip(mean, 1e-3, 1 - 1e-3)
            mean = np.log(mean / (1 - mean))
        bias = mean.reshape(-1).astype(np.float32)
        return {**params, "decoder_out": {**params["decoder_out"], "bias": jnp.asarray(bias)}}

    @classmethod
    def check(cls, config, encoder) -> None:
        if not encoder.gives_trunk:
            raise SerJaxError(f"--config.signals.reconstruction.weight > 0 needs an encoder with fixed-size "
                              f"features to decode; --config.model.encoder={config.model.encoder} has none "
                              "(it reads variable-length input): set the weight to 0 or choose parallel_cnn or satt")
        scaling = config.train.input_scaling
        if config.signals.reconstruction.get("output", "sigmoid") == "sigmoid" and scaling != "minmax":
            raise SerJaxError(f"--config.signals.reconstruction.output=sigmoid reaches only [0, 1], the range of "
                              f"--config.train.input_scaling=minmax, not of {scaling}: set output=linear or "
                              "input_scaling=minmax")
        if not input_pipeline.fixed_size(config):
            raise SerJaxError("--config.signals.reconstruction.weight > 0 decodes a fixed-size input: set "
                              "--config.features.crop_seconds > 0 or --config.train.crop_percentile > 0")

    def head(self, enc, x, *, encoder, num_classes, train, pairs) -> dict:
        batch, frames, bins = x.shape
        r = layers.fc_bn_relu(enc.trunk, self.hidden, "recon", train=train, momentum=encoder.bn_momentum,
                              dtype=encoder.dtype)
        r = nn.Dropout(encoder.head_dropout, deterministic=not train)(r)
        for i, width in enumerate(self.decoder_dims):
            r = nn.relu(layers.Dense(width, dtype=encoder.dtype, name=f"decoder_{i}")(r))
        r = layers.Dense(frames * bins, dtype=encoder.dtype, name="decoder_out")(r)
        r = r.astype(jnp.float32)
        return {"reconstruction": (nn.sigmoid(r) if self.output == "sigmoid" else r).reshape(batch, frames, bins)}

    def loss(self, out, batch, state, *, step):
        value = losses.masked_mean(self._per_example(out, batch), batch["mask"])
        return self.weight * value, {"loss/recon": value}

    def eval_sums(self, out, batch, num_classes) -> dict:
        return {"recon_se": jnp.sum(self._per_example(out, batch))}

    @staticmethod
    def _per_example(out, batch):
        return losses.reconstruction_mse(reconstruction=out["reconstruction"], target=batch["x"], mask=batch["mask"])
