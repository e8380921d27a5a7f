"""Center loss on the embedding, with class centers carried in the TrainState (000, 001)."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import ml_collections

from ser_jax import losses
from ser_jax.errors import SerJaxError
from ser_jax.signals.base import Signal


def default_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.weight = 0.0  # λ1 (000) / λ (001); 0 turns center loss and the center updates off
    c.norm = "l2"  # l2 (eq. 1 of 000) | l1 (the variant 000 mentions)
    c.rule = "wen"  # how centers move: wen (Wen et al.) | moving_mean (001)
    c.alpha = 0.5  # center update rate α
    return c


@dataclasses.dataclass(frozen=True, kw_only=True)
class Center(Signal):
    """Attributes:
      norm: `l2` or `l1` distance to the own class center.
      rule: `wen` or `moving_mean` (see losses.update_centers).
      alpha: center update rate.
    """

    name = "center"

    norm: str = "l2"
    rule: str = "wen"
    alpha: float = 0.5

    @classmethod
    def from_config(cls, c) -> "Center":
        if c.norm not in losses.CENTER_NORMS:
            raise SerJaxError(f"--config.signals.center.norm={c.norm!r}: choose one of {losses.CENTER_NORMS}")
        if c.rule not in losses.CENTER_RULES:
            raise SerJaxError(f"--config.signals.center.rule={c.rule!r}: choose one of {losses.CENTER_RULES}")
        return cls(weight=c.weight, norm=c.norm, rule=c.rule, alpha=c.alpha)

    def init_state(self, *, num_classes, embed_dim, train_labels) -> dict:
        return {"centers": jnp.zeros((num_classes, embed_dim), jnp.float32)}

    def loss(self, out, batch, state):
        value = losses.masked_mean(losses.center_loss(
            embeddings=out["embedding"], centers=state["centers"], labels=batch["label"], mask=batch["mask"],
            norm=self.norm), batch["mask"])
        return self.weight * value, {"loss/center": value}

    def update_state(self, state, out, batch) -> dict:
        return {"centers": losses.update_centers(centers=state["centers"], embeddings=out["embedding"],
                                                 labels=batch["label"], mask=batch["mask"], alpha=self.alpha,
                                                 rule=self.rule)}
