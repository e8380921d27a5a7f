"""What a training signal is: loss terms, the head they need, their state, batches, evaluation.

A signal is a frozen dataclass of its settings, built from `config.signals.<name>` when its
`weight` is above 0 (`from_config`). The parts, each optional:

- `head(enc, x, ...)`: layers on the encoder's outputs (created in the `Network` module)
  → named outputs; called in the order of `ser_jax.signals.SIGNALS`;
- `loss(out, batch, state, step=...)` → (weighted total, {"loss/<term>": value}); `steps.loss_fn`
  adds the signals' totals, in registry order;
- `init_params(params, train_source)`: a data-dependent start for its head's parameters;
- `init_state(...)` / `update_state(...)`: what the signal carries in `TrainState.signals`
  (the class centers; the fold's class weights), changed only by `update_state`;
- `batch` and `batches(...)`: the kind of training batch it needs (utterances or pairs) and
  the sampler for a kind of its own;
- `predicts`: how a method with this signal predicts emotion classes: `logits` (its head's)
  or `vectors` (an SVM on the embeddings);
- `eval_sums(out, batch, num_classes)`: summed evaluation quantities of one batch;
- `check(config, encoder)`: refuses, naming the keys, what cannot work with this encoder or
  these features (run when the config is read).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np


@dataclasses.dataclass(frozen=True, kw_only=True)
class Signal:
    """Attributes:
      weight: the factor of this signal's loss in the total (> 0: the signal is on).
    """

    name: ClassVar[str] = ""
    batch: ClassVar[str] = "utterances"
    predicts: ClassVar[str | None] = None

    weight: float = 1.0

    @classmethod
    def check(cls, config, encoder) -> None:
        """Raises SerJaxError naming the keys when this signal cannot run with `encoder`."""

    def head(self, enc, x, *, encoder, num_classes: int, train: bool, pairs: bool) -> dict:
        return {}

    def loss(self, out: dict, batch: dict, state: dict, *, step):
        """(weighted total, {"loss/<term>": unweighted value}); `step` is the int32 step count."""
        raise NotImplementedError

    def init_state(self, *, num_classes: int, embed_dim: int, train_labels: np.ndarray) -> dict:
        return {}

    def init_params(self, params: dict, train_source) -> dict:
        """The network's initial parameters, adjusted from the training fold's data (its head's)."""
        return params

    def update_state(self, state: dict, out: dict, batch: dict) -> dict:
        return state

    def eval_sums(self, out: dict, batch: dict, num_classes: int) -> dict:
        return {}

    def batches(self, source, batch_size: int, *, seed: int, epoch: int):
        """Training batches of one epoch, for a signal with a batch kind of its own."""
        raise NotImplementedError

    def batches_per_epoch(self, num_utterances: int, batch_size: int) -> int:
        raise NotImplementedError
