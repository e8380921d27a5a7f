"""Tripathi et al. (000): four parallel Conv2D paths → 64-d embedding."""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from ser_jax import conv, layers
from ser_jax.encoders.base import Encoded, Encoder


def default_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.kernel_sizes = ((4, 6), (6, 8), (8, 10), (10, 12))  # (time, freq) per path, paper
    c.channels = 200  # kernels per path, paper
    c.embed_dim = 64  # embedding (center loss acts here), paper
    c.dropout = 0.5  # before the classifier and in the decoder branch; paper tried 0.25–0.75
    # What each quadrant of a path's conv output gives: max (the paper: its maximum) | max_mean
    # (its maximum and its mean over the valid frames: twice the features, the full conv output
    # computed, so no `pooled` weight gradient)
    c.pool = "max"
    return c


POOLS = ("max", "max_mean")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ParallelCNN(Encoder):
    """Each path: Conv (VALID) with `channels` kernels of one size, ReLU, max-pool over the
    halves of the conv output in time and frequency, so every path yields channels × 2 × 2.
    The time halves are those of each utterance's valid conv frames (its true length), so the
    padding of a short utterance never reaches the pooled features (`layers.valid_half_max_pool`;
    convolution and pooling are one operation, `conv.conv_half_max_pool`).
    Their concatenation (the trunk a decoder reads) feeds FC + BN + ReLU → embedding.

    Attributes:
      kernel_sizes: (time, frequency) kernel of each path.
      channels: kernels per path (200 in the paper).
      embed_dim: embedding size (64).
      dropout: dropout rate of the heads (paper: tried 0.25–0.75).
      pool: `max` (the paper) or `max_mean` (each quadrant's maximum and mean, concatenated).
    """

    takes_lengths = True
    gives_trunk = True
    pools_convs = True
    head_name = "logits"

    kernel_sizes: tuple = ((4, 6), (6, 8), (8, 10), (10, 12))
    channels: int = 200
    embed_dim: int = 64
    dropout: float = 0.5
    pool: str = "max"

    @classmethod
    def from_config(cls, c, **common) -> "ParallelCNN":
        return cls(kernel_sizes=tuple(map(tuple, c.kernel_sizes)), channels=c.channels,
                   embed_dim=c.embed_dim, dropout=c.dropout, pool=c.pool, **common)

    def check(self) -> None:
        if self.pool not in POOLS:
            raise ValueError(f"pool={self.pool!r}: choose one of {', '.join(POOLS)}")
        if self.pool == "max_mean" and self.conv_weight_grad == "pooled":
            raise ValueError("pool='max_mean' computes the full conv output: the `pooled` weight gradient "
                             "(--config.model.conv_weight_grad) applies to pool='max' only; use auto, gemm or xla")

    @property
    def head_dropout(self) -> float:
        return self.dropout

    def __call__(self, x, lengths, *, train: bool) -> Encoded:
        batch, frames, bins = x.shape
        h = x[..., None].astype(self.conv_compute_dtype)
        paths = []
        for i, (kt, kf) in enumerate(self.kernel_sizes):
            if min(frames - kt + 1, bins - kf + 1) < 2:
                raise ValueError(f"input {frames}×{bins} is smaller than kernel {kt}×{kf} allows")
            conv_lengths = jnp.maximum(lengths - kt + 1, 1)  # frames whose kernel sees only audio
            if self.pool == "max_mean":
                a = nn.relu(conv.Conv(self.channels, (kt, kf), weight_grad=self.conv_weight_grad,
                                      dtype=self.conv_compute_dtype, name=f"Conv_{i}")(h))
                both = [layers.valid_half_max_pool(a, conv_lengths), layers.valid_half_mean_pool(a, conv_lengths)]
                paths.append(jnp.concatenate(both, axis=-1).reshape(batch, -1))
                continue
            # ReLU(max(conv) + bias) = max(ReLU(conv + bias)): pooled before the bias and ReLU,
            # the same values without a pass over the full-size conv output.
            pooled = conv.Conv(self.channels, (kt, kf), weight_grad=self.conv_weight_grad,
                               dtype=self.conv_compute_dtype, name=f"Conv_{i}")(h, pool_lengths=conv_lengths)
            paths.append(nn.relu(pooled).reshape(batch, -1))
        shared = jnp.concatenate(paths, axis=-1)
        embedding = layers.fc_bn_relu(shared, self.embed_dim, "embed", train=train, momentum=self.bn_momentum,
                                      dtype=self.dtype)
        return Encoded(embedding=embedding, head_input=embedding, trunk=shared)
