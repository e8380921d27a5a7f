"""Reconstruction of the scaled input through a decoder on the encoder's trunk (000's A)."""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from ser_jax import layers, losses
from ser_jax.errors import SerJaxError
from ser_jax.signals.base import Signal


def default_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.weight = 0.0  # λ2 (000); 0 turns reconstruction and its decoder off
    c.hidden = 64  # the branch's FC + BN width (not given: same as the embedding)
    c.decoder_dims = (256,)  # decoder hidden FCs before the sigmoid output (not given)
    return c


@dataclasses.dataclass(frozen=True, kw_only=True)
class Reconstruction(Signal):
    """FC + BN + ReLU (+ the encoder's head dropout) on the trunk → decoder FCs → sigmoid
    output of the input's shape; the loss is its MSE against the (scaled) input.

    Attributes:
      hidden: width of the branch's FC + BN layer.
      decoder_dims: hidden FC layers of the decoder before the output layer.
    """

    name = "reconstruction"

    hidden: int = 64
    decoder_dims: tuple = (256,)

    @classmethod
    def from_config(cls, c) -> "Reconstruction":
        return cls(weight=c.weight, hidden=c.hidden, decoder_dims=tuple(c.decoder_dims))

    @classmethod
    def check(cls, config, encoder) -> None:
        if not encoder.gives_trunk:
            raise SerJaxError(f"--config.signals.reconstruction.weight > 0 needs an encoder with fixed-size "
                              f"features to decode; --config.model.encoder={config.model.encoder} has none "
                              "(it reads variable-length input): set the weight to 0 or choose parallel_cnn or satt")
        if not config.features.crop_seconds:
            raise SerJaxError("--config.signals.reconstruction.weight > 0 decodes a fixed-size input: set "
                              "--config.features.crop_seconds > 0")

    def head(self, enc, x, *, encoder, num_classes, train, pairs) -> dict:
        batch, frames, bins = x.shape
        r = layers.fc_bn_relu(enc.trunk, self.hidden, "recon", train=train, momentum=encoder.bn_momentum,
                              dtype=encoder.dtype)
        r = nn.Dropout(encoder.head_dropout, deterministic=not train)(r)
        for i, width in enumerate(self.decoder_dims):
            r = nn.relu(nn.Dense(width, dtype=encoder.dtype, name=f"decoder_{i}")(r))
        r = nn.Dense(frames * bins, dtype=encoder.dtype, name="decoder_out")(r)
        return {"reconstruction": nn.sigmoid(r.astype(jnp.float32)).reshape(batch, frames, bins)}

    def loss(self, out, batch, state, *, step):
        value = losses.masked_mean(self._per_example(out, batch), batch["mask"])
        return self.weight * value, {"loss/recon": value}

    def eval_sums(self, out, batch, num_classes) -> dict:
        return {"recon_se": jnp.sum(self._per_example(out, batch))}

    @staticmethod
    def _per_example(out, batch):
        return losses.reconstruction_mse(reconstruction=out["reconstruction"], target=batch["x"], mask=batch["mask"])
