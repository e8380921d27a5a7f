"""Dai et al. (001): conv blocks → BiGRU → FC1 (z, the embedding)."""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from ser_jax import conv_block, gru, layers
from ser_jax.encoders.base import Encoded, Encoder


def default_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.conv_channels = (32, 64)  # conv blocks (figure missing from the talk)
    c.gru_units = 128  # per direction, talk
    c.z_dim = 128  # FC1 output z (not given)
    c.dropout = 0.3  # before the classifier
    c.unroll = 0  # GRU steps per loop iteration; 0: 25 on GPU/TPU, 1 on CPU (same results)
    return c


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConvGRU(Encoder):
    """Each conv block: Conv 3×3 SAME + BN + ReLU + max-pool 2×2 (the first one fused into one
    operation for float32 training on CPU: ser_jax.conv_block). Frames past an utterance's
    length are zeroed before every conv, and the GRUs stop at the true (pooled) length, so
    padding never changes the output (in eval mode). The BiGRU is `ser_jax.gru.bidirectional`:
    flax's GRUCell math and parameters, computed faster. Last forward ⊕ last backward state →
    FC1 → z; the classifier reads ReLU(z).

    Attributes:
      conv_channels: channels of each conv block.
      gru_units: units per direction (128 in the talk).
      z_dim: size of FC1's output z, on which the center loss acts.
      dropout: dropout before the classifier.
      gru_unroll: GRU steps per loop iteration, 0 for the backend's choice (see
        ser_jax.gru.resolve_unroll); the output does not depend on it.
    """

    takes_lengths = True
    pools_convs = True
    head_name = "fc2"

    conv_channels: tuple = (32, 64)
    gru_units: int = 128
    z_dim: int = 128
    dropout: float = 0.3
    gru_unroll: int = 0

    @classmethod
    def from_config(cls, c, **common) -> "ConvGRU":
        return cls(conv_channels=tuple(c.conv_channels), gru_units=c.gru_units, z_dim=c.z_dim,
                   dropout=c.dropout, gru_unroll=c.unroll, **common)

    @property
    def embed_dim(self) -> int:
        return self.z_dim

    @property
    def head_dropout(self) -> float:
        return self.dropout

    def check(self) -> None:
        try:
            gru.resolve_unroll(self.gru_unroll, 1)
        except ValueError as err:
            raise ValueError(f"unroll: {err}") from None

    def __call__(self, x, lengths, *, train: bool) -> Encoded:
        h = x[..., None].astype(self.conv_compute_dtype)
        lengths = lengths.astype(jnp.int32)
        for i, channels in enumerate(self.conv_channels):
            valid = jnp.arange(h.shape[1])[None, :] < lengths[:, None]
            h = h * valid[:, :, None, None].astype(h.dtype)
            h = conv_block.block(h, channels, (3, 3), i, train=train, momentum=self.bn_momentum,
                                 weight_grad=self.conv_weight_grad, dtype=self.conv_compute_dtype)
            lengths = jnp.maximum(lengths // 2, 1)
        seq = h.reshape(h.shape[0], h.shape[1], -1)
        last_fwd, last_bwd = gru.bidirectional(seq, lengths, self.gru_units, dtype=self.dtype, unroll=self.gru_unroll)
        z = layers.Dense(self.z_dim, dtype=self.dtype, name="fc1")(jnp.concatenate([last_fwd, last_bwd], axis=-1))
        return Encoded(embedding=z, head_input=nn.relu(z))
