"""Lian et al. (002): same/different-emotion discrimination of utterance pairs."""

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
    c.weight = 0.0  # factor of the pairwise loss; > 0 trains on pairs (002)
    c.cos_weight = 0.9  # λ of 002: L = λ·L_cos + (1 − λ)·L_CE (paper best 0.9)
    c.margin = 0.1  # m of the cosine-margin loss (paper best 0.1)
    c.hidden = 128  # discriminator FC, paper
    c.same_fraction = 1 / 3  # share of same-emotion pairs (paper)
    c.pairs_per_epoch = 0  # pairs drawn per epoch; 0: pairs_per_utterance × training utterances
    c.pairs_per_utterance = 3.0  # with pairs_per_epoch 0: pairs per epoch per training utterance
    return c


@dataclasses.dataclass(frozen=True, kw_only=True)
class Pairwise(Signal):
    """A training batch holds B pairs as 2B utterances (first members, then second members),
    encoded in one pass (shared BatchNorm statistics). The head gives the pair's vectors
    (`pair_embeddings`: e1, e2, float32), on which the cosine-margin loss acts, and the
    discriminator's logits: concat(e1, e2) → FC(hidden) + ReLU → 2 (class 1 = same emotion). Classes are predicted by
    an SVM on the embeddings.

    Attributes:
      cos_weight: λ in L = λ·L_cos + (1 − λ)·L_CE.
      margin: m of the cosine-margin loss.
      hidden: discriminator hidden size.
      same_fraction: share of same-emotion pairs per epoch.
      pairs_per_epoch: pairs drawn per epoch (0: pairs_per_utterance × the training utterances).
      pairs_per_utterance: with pairs_per_epoch 0, pairs per epoch per training utterance.
    """

    name = "pairwise"
    batch = "pairs"
    predicts = "vectors"

    cos_weight: float = 0.9
    margin: float = 0.1
    hidden: int = 128
    same_fraction: float = 1 / 3
    pairs_per_epoch: int = 0
    pairs_per_utterance: float = 3.0

    @classmethod
    def from_config(cls, c) -> "Pairwise":
        if c.weight > 0 and not c.pairs_per_epoch and not c.pairs_per_utterance > 0:
            raise SerJaxError(f"--config.signals.pairwise.pairs_per_utterance={c.pairs_per_utterance}: must be > 0 "
                              "(or set --config.signals.pairwise.pairs_per_epoch)")
        return cls(weight=c.weight, cos_weight=c.cos_weight, margin=c.margin, hidden=c.hidden,
                   same_fraction=c.same_fraction, pairs_per_epoch=c.pairs_per_epoch,
                   pairs_per_utterance=c.pairs_per_utterance)

    def head(self, enc, x, *, encoder, num_classes, train, pairs) -> dict:
        if not pairs:
            return {}
        e1, e2 = jnp.split(enc.embedding, 2, axis=0)
        h = nn.relu(layers.Dense(self.hidden, dtype=encoder.dtype, name="disc_hidden")(jnp.concatenate([e1, e2], -1)))
        return {"pair_logits": layers.Dense(2, dtype=encoder.dtype, name="disc_out")(h).astype(jnp.float32),
                "pair_embeddings": (e1.astype(jnp.float32), e2.astype(jnp.float32))}

    def loss(self, out, batch, state, *, step):
        e1, e2 = out["pair_embeddings"]
        mask, same = batch["mask"], batch["same"]
        cos = losses.masked_mean(losses.cosine_margin(x1=e1, x2=e2, same=same, mask=mask, margin=self.margin), mask)
        ce = losses.masked_mean(losses.pairwise_cross_entropy(logits=out["pair_logits"], same=same, mask=mask), mask)
        return self.weight * (self.cos_weight * cos + (1.0 - self.cos_weight) * ce), {"loss/cos": cos, "loss/ce": ce}

    def _num_pairs(self, num_utterances: int) -> int:
        return self.pairs_per_epoch or int(round(self.pairs_per_utterance * num_utterances))

    def batches_per_epoch(self, num_utterances: int, batch_size: int) -> int:
        return self._num_pairs(num_utterances) // batch_size

    def batches(self, source, batch_size, *, seed, epoch):
        return input_pipeline.pair_batches(source, batch_size, self._num_pairs(len(source)),
                                           same_fraction=self.same_fraction, seed=seed, epoch=epoch)
