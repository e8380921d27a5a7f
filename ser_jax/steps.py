"""TrainState and the pure train/eval steps. Nothing here is jitted or reads a config.

All changing state (params, BatchNorm statistics, class centers, optimizer state,
step) lives in one `TrainState` that goes into a step and comes out of it. The step's
randomness is `fold_in(base_key, state.step)`, so a resumed run replays the same keys.
`train.py` binds `LossSpec` with functools.partial and jits with `donate_argnums=0`.

Batches (numpy or jax arrays, fixed shapes, padded rows masked):
  classify: x [B, T, F], label [B], mask [B], length [B] (ConvGRU), target [B, T, F] (A)
  pairwise: x1, x2 [B, T, F], same [B], mask [B]
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from ser_jax import losses


@dataclasses.dataclass(frozen=True)
class LossSpec:
    """Which terms form the loss and how they are weighted (hashable: safe to bind).

    Attributes:
      task: `classify` (000, 001, 002 baseline) or `pairwise` (002).
      uses_lengths: the model takes per-utterance lengths (ConvGRU).
      class_weights: per-class CE weights (Dai et al.), or () for none.
      center_weight: λ1 (000) / λ (001); 0 disables the center loss and the center update.
      center_norm: `l2` or `l1`.
      center_rule: `wen` or `moving_mean`.
      center_alpha: center update rate α.
      recon_weight: λ2 (000); 0 disables reconstruction.
      softmax_weight: weight of the CE term in classify (0 gives the "A only" model).
      cos_weight: λ of Lian et al. (L = λ·L_cos + (1 − λ)·L_CE).
      margin: m of the cosine-margin loss.
    """

    task: str = "classify"
    uses_lengths: bool = False
    class_weights: tuple = ()
    center_weight: float = 0.0
    center_norm: str = "l2"
    center_rule: str = "wen"
    center_alpha: float = 0.5
    recon_weight: float = 0.0
    softmax_weight: float = 1.0
    cos_weight: float = 0.9
    margin: float = 0.1


class TrainState(struct.PyTreeNode):
    """Everything a training step changes.

    Attributes:
      step: int32 scalar.
      params, batch_stats: the model's variables.
      centers: float32 [C, D] class centers (zeros and unused without center loss).
      opt_state: optax state.
      apply_fn, tx: static: the model's apply and the optimizer.
    """

    step: jax.Array
    params: Any
    batch_stats: Any
    centers: jax.Array
    opt_state: Any
    apply_fn: Callable = struct.field(pytree_node=False)
    tx: optax.GradientTransformation = struct.field(pytree_node=False)


def create_train_state(model: nn.Module, tx: optax.GradientTransformation, key: jax.Array,
                       example: dict, *, spec: LossSpec, num_classes: int, embed_dim: int,
                       method: Callable | None = None) -> TrainState:
    """Initializes variables from one example batch.

    Args:
      model: a `ser_jax.models` module.
      tx: optimizer.
      key: init key.
      example: a batch of the shapes training will use.
      spec: the loss spec (decides which batch entries the model takes).
      num_classes, embed_dim: shape of the centers.
      method: model method to initialise through (e.g. `PairwiseModel.classify`).
    """
    variables = _init_variables(model, key, _model_inputs(example, spec), method=method)
    apply_fn = model.apply if method is None else (lambda v, *a, **k: model.apply(v, *a, method=method, **k))
    params = variables["params"]
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      batch_stats=variables.get("batch_stats", {}),
                      centers=jnp.zeros((num_classes, embed_dim), jnp.float32),
                      opt_state=tx.init(params), apply_fn=apply_fn, tx=tx)


@functools.partial(jax.jit, static_argnames=("model", "method"))
def _init_variables(model: nn.Module, key: jax.Array, inputs: tuple, method: Callable | None = None) -> dict:
    """The model's initial variables, jitted. Run op by op, the init's forward pass compiles
    each of its hundreds of primitives on its own, in every process, and compiles that small
    never reach the persistent compilation cache (full-size parallel CNN on CPU: 17.9 s eager,
    6.1 s jitted). Flax modules hash by their fields, so every fold of a run, which builds an
    equal model, reuses one compile."""
    return model.init({"params": key, "dropout": key}, *inputs, train=False, method=method)


def _model_inputs(batch: dict, spec: LossSpec) -> tuple:
    if spec.task == "pairwise":
        return batch["x1"], batch["x2"]
    return (batch["x"], batch["length"]) if spec.uses_lengths else (batch["x"],)


def loss_fn(params, state: TrainState, batch: dict, key: jax.Array, *, spec: LossSpec):
    """The one place loss terms are combined.

    Returns:
      (total, (terms, new_batch_stats, aux)): terms maps `loss/<name>` to scalars.
    """
    variables = {"params": params, "batch_stats": state.batch_stats}
    (logits, aux), updates = state.apply_fn(variables, *_model_inputs(batch, spec), train=True,
                                            rngs={"dropout": key}, mutable=["batch_stats"])
    mask = batch["mask"]
    terms = {}
    if spec.task == "pairwise":
        terms["loss/cos"] = losses.masked_mean(losses.cosine_margin(
            x1=aux["embedding"], x2=aux["embedding2"], same=batch["same"], mask=mask,
            margin=spec.margin), mask)
        terms["loss/ce"] = losses.masked_mean(losses.pairwise_cross_entropy(
            logits=logits, same=batch["same"], mask=mask), mask)
        total = spec.cos_weight * terms["loss/cos"] + (1.0 - spec.cos_weight) * terms["loss/ce"]
    else:
        weights = jnp.asarray(spec.class_weights, jnp.float32) if spec.class_weights else None
        terms["loss/ce"] = losses.masked_mean(losses.softmax_cross_entropy(
            logits=logits, labels=batch["label"], mask=mask, class_weights=weights), mask)
        total = spec.softmax_weight * terms["loss/ce"]
        if spec.center_weight:
            terms["loss/center"] = losses.masked_mean(losses.center_loss(
                embeddings=aux["embedding"], centers=state.centers, labels=batch["label"],
                mask=mask, norm=spec.center_norm), mask)
            total = total + spec.center_weight * terms["loss/center"]
        if spec.recon_weight:
            terms["loss/recon"] = losses.masked_mean(losses.reconstruction_mse(
                reconstruction=aux["reconstruction"], target=batch["target"], mask=mask), mask)
            total = total + spec.recon_weight * terms["loss/recon"]
    terms["loss/total"] = total
    return total, (terms, updates["batch_stats"], aux)


def train_step(state: TrainState, batch: dict, base_key: jax.Array, *, spec: LossSpec):
    """One optimizer step; centers move toward this batch's embeddings of their class.

    Returns:
      (new_state, metrics) with every loss term and the gradient norm.
    """
    key = jax.random.fold_in(base_key, state.step)
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    (_, (terms, batch_stats, aux)), grads = grad_fn(state.params, state, batch, key, spec=spec)
    updates, opt_state = state.tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    centers = state.centers
    if spec.task == "classify" and spec.center_weight:
        centers = losses.update_centers(centers=centers, embeddings=aux["embedding"],
                                        labels=batch["label"], mask=batch["mask"],
                                        alpha=spec.center_alpha, rule=spec.center_rule)
    metrics = dict(terms, grad_norm=optax.global_norm(grads))
    return state.replace(step=state.step + 1, params=params, batch_stats=batch_stats,
                         centers=centers, opt_state=opt_state), metrics


def eval_step(state: TrainState, batch: dict, *, spec: LossSpec, num_classes: int):
    """Predictions of one batch as summed counts (padded rows contribute nothing).

    Returns:
      dict: confusion int32 [C, C] (rows = true class), embedding [B, D], logits [B, C], and
      with a decoder recon_se: the sum over real rows of each row's reconstruction MSE.
    """
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    logits, aux = state.apply_fn(variables, *_model_inputs(batch, spec), train=False)
    pred = jnp.argmax(logits, axis=-1)
    true = batch["same"] if spec.task == "pairwise" else batch["label"]
    k = 2 if spec.task == "pairwise" else num_classes
    cells = jax.nn.one_hot(true, k, dtype=jnp.int32)[:, :, None] * jax.nn.one_hot(pred, k, dtype=jnp.int32)[:, None, :]
    confusion = jnp.sum(cells * batch["mask"].astype(jnp.int32)[:, None, None], axis=0)
    out = {"confusion": confusion, "embedding": aux["embedding"], "logits": logits}
    if "reconstruction" in aux:
        out["recon_se"] = jnp.sum(losses.reconstruction_mse(reconstruction=aux["reconstruction"],
                                                            target=batch["target"], mask=batch["mask"]))
    return out
