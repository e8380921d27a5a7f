"""No network: an utterance's embedding is its features' mean over its valid frames.

For eGeMAPS functionals (one 88-value "frame" per utterance) that is the functionals
themselves, so `identity` with every signal off is the classic reference: an SVM on the
features (configs/egemaps_svm.py). It has no parameters and nothing to train.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import ml_collections

from ser_jax.encoders.base import Encoded, Encoder


def default_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict()  # nothing to size


@dataclasses.dataclass(frozen=True, kw_only=True)
class Identity(Encoder):
    """The mean of the valid frames of x [B, T, F] → [B, F]."""

    takes_lengths = True
    trainable = False

    @classmethod
    def from_config(cls, c, **common) -> "Identity":
        del c
        return cls(**common)

    @property
    def embed_dim(self) -> int:
        return 0  # the input's number of bins: known only from the data

    def __call__(self, x, lengths, *, train: bool) -> Encoded:
        del train
        valid = (jnp.arange(x.shape[1])[None, :] < lengths[:, None]).astype(jnp.float32)
        mean = jnp.einsum("btf,bt->bf", x.astype(jnp.float32), valid) / jnp.maximum(lengths, 1)[:, None]
        return Encoded(embedding=mean, head_input=mean)
