"""Softmax cross-entropy on a classifier head (000's S, 001's class-weighted softmax)."""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax.numpy as jnp
import ml_collections
import numpy as np

from ser_jax import layers, losses
from ser_jax.errors import SerJaxError
from ser_jax.signals.base import Signal


def default_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.weight = 1.0  # factor of the CE term; 0 turns the classifier off (e.g. the "A only" model)
    c.class_weighted = False  # ω_j ∝ 1/n_j from the training fold (001)
    c.label_smoothing = 0.0  # ε: targets (1 − ε)·one-hot + ε / C; 0: none
    return c


@dataclasses.dataclass(frozen=True, kw_only=True)
class Softmax(Signal):
    """Dense(C) on the encoder's head input (after the encoder's head dropout).

    Attributes:
      class_weighted: weigh each example by ω_{y} ∝ 1/n_y of the training fold; the weights
        are this signal's state (`class_weights` [C]), fixed for the fold.
      label_smoothing: ε of the smoothed targets.
    """

    name = "softmax"
    predicts = "logits"

    class_weighted: bool = False
    label_smoothing: float = 0.0

    @classmethod
    def from_config(cls, c) -> "Softmax":
        smoothing = float(c.get("label_smoothing", 0.0))  # runs saved before the key: none
        if not 0.0 <= smoothing < 1.0:
            raise SerJaxError(f"--config.signals.softmax.label_smoothing={smoothing}: must be in [0, 1)")
        return cls(weight=c.weight, class_weighted=bool(c.class_weighted), label_smoothing=smoothing)

    def head(self, enc, x, *, encoder, num_classes, train, pairs) -> dict:
        y = enc.head_input
        if encoder.head_dropout:
            y = nn.Dropout(encoder.head_dropout, deterministic=not train)(y)
        logits = layers.Dense(num_classes, dtype=encoder.dtype, name=encoder.head_name)(y)
        return {"logits": logits.astype(jnp.float32)}

    def init_state(self, *, num_classes, embed_dim, train_labels) -> dict:
        if not self.class_weighted:
            return {}
        return {"class_weights": jnp.asarray(losses.class_weights(np.asarray(train_labels), num_classes))}

    def loss(self, out, batch, state, *, step):
        """Masked mean CE; on a mixed-up batch (`mix`, `label_b`) each row's target is the mix:
        λ·CE(label) + (1 − λ)·CE(label_b)."""
        def ce_of(labels):
            return losses.softmax_cross_entropy(logits=out["logits"], labels=labels, mask=batch["mask"],
                                                class_weights=state.get("class_weights"),
                                                label_smoothing=self.label_smoothing)

        per_row = ce_of(batch["label"])
        if "mix" in batch:
            per_row = batch["mix"] * per_row + (1.0 - batch["mix"]) * ce_of(batch["label_b"])
        ce = losses.masked_mean(per_row, batch["mask"])
        return self.weight * ce, {"loss/ce": ce}

