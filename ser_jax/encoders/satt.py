"""Lian et al. (002) audio encoder: 5 × (Conv + BN + ReLU + max-pool) + FC → 256-d."""

from __future__ import annotations

import dataclasses
from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from ser_jax import conv_block, layers
from ser_jax.encoders.base import Encoded, Encoder


def default_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.conv_channels = (16, 32, 32, 64, 64)  # 5 Satt-style conv layers (figure missing)
    c.kernel = (3, 3)
    c.embed_dim = 256  # paper
    return c


class SattCNN(nn.Module):
    """The conv stack and FC; returns (vector [B, D], flattened last conv map [B, K]). The
    first block is one operation in float32 training on CPU (ser_jax.conv_block)."""

    conv_channels: Sequence[int]
    kernel: Sequence[int]
    embed_dim: int
    dtype: object
    conv_dtype: object
    bn_momentum: float
    conv_weight_grad: str

    @nn.compact
    def __call__(self, x, *, train: bool):
        h = x[..., None].astype(self.conv_dtype)
        for i, channels in enumerate(self.conv_channels):
            h = conv_block.block(h, channels, tuple(self.kernel), i, train=train, momentum=self.bn_momentum,
                                 weight_grad=self.conv_weight_grad, dtype=self.conv_dtype)
        flat = h.reshape(h.shape[0], -1)
        return layers.Dense(self.embed_dim, dtype=self.dtype)(flat), flat


@dataclasses.dataclass(frozen=True, kw_only=True)
class Satt(Encoder):
    """The conv stack lives in a child module `encoder` (the parameter names of the first
    release). Its FC reads the flattened map, so the number of frames must be fixed.

    Attributes:
      conv_channels: channels of the five conv layers (Satt-style; the figure is missing).
      kernel: conv kernel (time, frequency).
      embed_dim: output vector size (256 in the paper).
    """

    needs_fixed_length = True
    gives_trunk = True
    pools_convs = True
    head_name = "class_head"

    conv_channels: tuple = (16, 32, 32, 64, 64)
    kernel: tuple = (3, 3)
    embed_dim: int = 256

    @classmethod
    def from_config(cls, c, **common) -> "Satt":
        return cls(conv_channels=tuple(c.conv_channels), kernel=tuple(c.kernel), embed_dim=c.embed_dim, **common)

    def __call__(self, x, lengths, *, train: bool) -> Encoded:
        vector, flat = SattCNN(self.conv_channels, self.kernel, self.embed_dim, self.dtype, self.conv_compute_dtype,
                               self.bn_momentum, self.conv_weight_grad, name="encoder")(x, train=train)
        return Encoded(embedding=vector, head_input=vector, trunk=flat)
