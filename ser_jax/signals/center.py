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
    # Over the embedding's D dimensions: sum (the papers; the term grows with D: with D = 64
    # and λ1 = 4 it starts ~30× the CE) | mean (λ means the same whatever D).
    c.reduce = "sum"
    # Steps over which λ rises linearly from 0 (the centers start at zero and the embedding
    # is still random: a full-weight term at first pulls every embedding to the origin); 0: none.
    c.warmup_steps = 0
    return c


@dataclasses.dataclass(frozen=True, kw_only=True)
class Center(Signal):
    """Attributes:
      norm: `l2` or `l1` distance to the own class center.
      rule: `wen` or `moving_mean` (see losses.update_centers).
      alpha: center update rate.
      reduce: `sum` or `mean` over the embedding's dimensions.
      warmup_steps: λ rises linearly from 0 to `weight` over this many steps (0: none).
    """

    name = "center"

    norm: str = "l2"
    rule: str = "wen"
    alpha: float = 0.5
    reduce: str = "sum"
    warmup_steps: int = 0

    @classmethod
    def from_config(cls, c) -> "Center":
        if c.norm not in losses.CENTER_NORMS:
            raise SerJaxError(f"--config.signals.center.norm={c.norm!r}: choose one of {losses.CENTER_NORMS}")
        if c.rule not in losses.CENTER_RULES:
            raise SerJaxError(f"--config.signals.center.rule={c.rule!r}: choose one of {losses.CENTER_RULES}")
        # Runs saved before these keys existed had the papers' sum and no warm-up.
        reduce, warmup = c.get("reduce", "sum"), c.get("warmup_steps", 0)
        if reduce not in losses.CENTER_REDUCTIONS:
            raise SerJaxError(f"--config.signals.center.reduce={reduce!r}: choose one of {losses.CENTER_REDUCTIONS}")
        if warmup < 0:
            raise SerJaxError(f"--config.signals.center.warmup_steps={warmup} is negative")
        return cls(weight=c.weight, norm=c.norm, rule=c.rule, alpha=c.alpha, reduce=reduce, warmup_steps=warmup)

    def init_state(self, *, num_classes, embed_dim, train_labels) -> dict:
        return {"centers": jnp.zeros((num_classes, embed_dim), jnp.float32)}

    def loss(self, out, batch, state, *, step):
        value = losses.masked_mean(losses.center_loss(
            embeddings=out["embedding"], centers=state["centers"], labels=batch["label"], mask=batch["mask"],
            norm=self.norm, reduce=self.reduce), batch["mask"])
        weight = self.weight
        if self.warmup_steps:
            weight = weight * jnp.minimum(step.astype(jnp.float32) / self.warmup_steps, 1.0)
        return weight * value, {"loss/center": value}

    def update_state(self, state, out, batch) -> dict:
        return {"centers": losses.update_centers(centers=state["centers"], embeddings=out["embedding"],
                                                 labels=batch["label"], mask=batch["mask"], alpha=self.alpha,
                                                 rule=self.rule)}
