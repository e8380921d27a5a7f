"""TrainState and the pure train/eval steps of a method. Nothing here is jitted or reads a config.

All changing state (params, BatchNorm statistics, the signals' state such as class centers,
optimizer state, step) lives in one `TrainState` that goes into a step and comes out of it.
The step's randomness is `fold_in(base_key, state.step)`, so a resumed run replays the same
keys. `train.py` binds the `Method` with functools.partial and jits with `donate_argnums=0`.

Batches (numpy or jax arrays, fixed shapes, padded rows masked):
  utterances: x [B, T, F], length [B], label [B], mask [B]
  pairs: x [2B, T, F], length [2B] (first members, then second members), same [B], mask [B]
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from ser_jax.method import Method


class TrainState(struct.PyTreeNode):
    """Everything a training step changes.

    Attributes:
      step: int32 scalar.
      params, batch_stats: the network's variables.
      signals: each stateful signal's state by name (e.g. {"center": {"centers": [C, D]}});
        a signal without state has no entry.
      opt_state: optax state.
      ema: an exponential moving average of params (weight averaging), or {} when off.
      apply_fn, tx: static: the network's apply and the optimizer.
    """

    step: jax.Array
    params: Any
    batch_stats: Any
    signals: Any
    opt_state: Any
    ema: Any
    apply_fn: Callable = struct.field(pytree_node=False)
    tx: optax.GradientTransformation = struct.field(pytree_node=False)


def averaged(state: TrainState) -> TrainState:
    """The state to evaluate and select: its parameters replaced by their moving average when
    weight averaging is on (`train.ema_decay`), else the state itself."""
    return state.replace(params=state.ema) if state.ema else state


def create_train_state(method: Method, num_classes: int, tx: optax.GradientTransformation, key: jax.Array,
                       example: dict, *, train_labels=()) -> TrainState:
    """Initializes variables from one example training batch.

    Args:
      method: the encoder and signals.
      num_classes: C.
      tx: optimizer.
      key: init key.
      example: a training batch of the shapes training will use.
      train_labels: int [N] labels of the training fold (for class weights).
    """
    network = method.network(num_classes)
    variables = _init_variables(network, key, example["x"], example["length"], method.pairs)
    params = variables.get("params", {})  # none: the identity encoder with no signal (an SVM on the features)
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, batch_stats=variables.get("batch_stats", {}),
                      signals=method.init_state(num_classes=num_classes, train_labels=train_labels),
                      opt_state=tx.init(params), ema={}, apply_fn=network.apply, tx=tx)


@functools.partial(jax.jit, static_argnames=("network", "pairs"))
def _init_variables(network: nn.Module, key: jax.Array, x, lengths, pairs: bool) -> dict:
    """The network's initial variables, jitted. Run op by op, the init's forward pass compiles
    each of its hundreds of primitives on its own, in every process, and compiles that small
    never reach the persistent compilation cache (full-size parallel CNN on CPU: 17.9 s eager,
    6.1 s jitted). Flax modules hash by their fields, so every fold of a run, which builds an
    equal network, reuses one compile."""
    return network.init({"params": key, "dropout": key}, x, lengths, train=False, pairs=pairs)


def loss_fn(params, state: TrainState, batch: dict, key: jax.Array, *, method: Method):
    """The one place loss terms are combined: the signals' weighted totals, in registry order.

    Returns:
      (total, (terms, new_batch_stats, outputs)): terms maps `loss/<name>` to scalars.
    """
    variables = {"params": params, "batch_stats": state.batch_stats}
    out, updates = state.apply_fn(variables, batch["x"], batch["length"], train=True, pairs=method.pairs,
                                  rngs={"dropout": key}, mutable=["batch_stats"])
    terms, total = {}, None
    for signal in method.signals:
        weighted, signal_terms = signal.loss(out, batch, state.signals.get(signal.name, {}), step=state.step)
        terms.update(signal_terms)
        total = weighted if total is None else total + weighted
    terms["loss/total"] = total
    return total, (terms, updates["batch_stats"], out)


def train_step(state: TrainState, batch: dict, base_key: jax.Array, *, method: Method, ema_decay: float = 0.0):
    """One optimizer step, then each stateful signal's update (centers move toward this
    batch's embeddings of their class) and, with `ema_decay` > 0 (and `state.ema` set), the
    moving average of the parameters: ema ← d·ema + (1 − d)·params.

    Returns:
      (new_state, metrics) with every loss term and the gradient norm.
    """
    key = jax.random.fold_in(base_key, state.step)
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    (_, (terms, batch_stats, out)), grads = grad_fn(state.params, state, batch, key, method=method)
    updates, opt_state = state.tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    signals = {s.name: s.update_state(state.signals[s.name], out, batch) for s in method.signals
               if s.name in state.signals}
    ema = state.ema
    if ema_decay and ema:
        ema = jax.tree.map(lambda e, p: ema_decay * e + (1.0 - ema_decay) * p, ema, params)
    metrics = dict(terms, grad_norm=optax.global_norm(grads))
    return state.replace(step=state.step + 1, params=params, batch_stats=batch_stats, signals=signals,
                         opt_state=opt_state, ema=ema), metrics


def eval_step(state: TrainState, batch: dict, *, method: Method, num_classes: int) -> dict:
    """One utterance batch in eval mode: embedding [B, D], class probabilities [B, C] where a
    head gives logits, and each signal's summed evaluation quantities (padded rows contribute
    nothing), e.g. recon_se (the sum over real rows of each row's reconstruction MSE)."""
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    out = state.apply_fn(variables, batch["x"], batch["length"], train=False)
    sums = {}
    for signal in method.signals:
        sums.update(signal.eval_sums(out, batch, num_classes))
    head = {"probabilities": jax.nn.softmax(out["logits"], axis=-1)} if "logits" in out else {}
    return {"embedding": out["embedding"], **head, **sums}
