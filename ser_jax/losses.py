"""Pure loss terms and the class-center update. No config access; keyword-only arguments.

Every loss returns per-example values [B]; rows whose `mask` is 0 (padding of the last
batch) are exactly 0. `masked_mean` turns them into the batch loss. The terms are
combined in exactly one place, `steps.loss_fn`.

Shapes: B batch, C classes, D embedding size.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

CENTER_RULES = ("wen", "moving_mean")
CENTER_NORMS = ("l2", "l1")
CENTER_REDUCTIONS = ("sum", "mean")


def masked_mean(values: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean of `values` [B] over rows with mask 1 (0 when every row is masked)."""
    mask = mask.astype(values.dtype)
    return jnp.sum(values * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def class_weights(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Dai et al.'s ω_j ∝ 1/n_j from the training fold's labels.

    Scaled so that Σ_j n_j·ω_j = N: the weighted loss keeps the unweighted loss's scale.
    A class absent from the training fold gets weight 0.

    Args:
      labels: int [N] training labels.
      num_classes: C.

    Returns:
      float32 [C].
    """
    counts = np.bincount(np.asarray(labels), minlength=num_classes).astype(np.float64)
    present = counts > 0
    weights = np.where(present, 1.0 / np.maximum(counts, 1.0), 0.0)
    weights *= counts.sum() / np.sum(weights * counts)
    return weights.astype(np.float32)


def softmax_cross_entropy(*, logits: jax.Array, labels: jax.Array, mask: jax.Array,
                          class_weights: jax.Array | None = None, label_smoothing: float = 0.0) -> jax.Array:
    """ω_{y_i} · (−Σ_c q_c log softmax(logits_i)_c), q the one-hot of y_i, or with label
    smoothing ε: (1 − ε)·one-hot + ε / C.

    Args:
      logits: [B, C].
      labels: int [B].
      mask: [B] 1 for real rows, 0 for padding.
      class_weights: [C] or None (all 1).
      label_smoothing: ε in [0, 1).

    Returns:
      [B] per-example loss, 0 on masked rows.
    """
    logits = logits.astype(jnp.float32)
    if label_smoothing:
        num_classes = logits.shape[-1]
        targets = jax.nn.one_hot(labels, num_classes) * (1.0 - label_smoothing) + label_smoothing / num_classes
        ce = optax.softmax_cross_entropy(logits, targets)
    else:
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    if class_weights is not None:
        ce = ce * class_weights[labels]
    return jnp.where(mask > 0, ce, 0.0)


def center_loss(*, embeddings: jax.Array, centers: jax.Array, labels: jax.Array,
                mask: jax.Array, norm: str = "l2", reduce: str = "sum") -> jax.Array:
    """½‖z_i − c_{y_i}‖² (Wen et al., eq. 1 of Tripathi et al.) or the L1 variant ‖z_i − c_{y_i}‖₁,
    summed over the D dimensions (the papers) or averaged over them (`reduce="mean"`: the
    same λ then weighs the term alike whatever the embedding size).

    No gradient reaches the centers: they move only through `update_centers`.

    Args:
      embeddings: [B, D] z.
      centers: [C, D].
      labels: int [B].
      mask: [B].
      norm: `l2` or `l1`.
      reduce: `sum` or `mean` over the D dimensions.

    Returns:
      [B] per-example loss, 0 on masked rows.
    """
    diff = embeddings.astype(jnp.float32) - jax.lax.stop_gradient(centers)[labels]
    if norm == "l2":
        per = 0.5 * diff ** 2
    elif norm == "l1":
        per = jnp.abs(diff)
    else:
        raise ValueError(f"center loss norm {norm!r} is not one of {CENTER_NORMS}")
    if reduce not in CENTER_REDUCTIONS:
        raise ValueError(f"center loss reduction {reduce!r} is not one of {CENTER_REDUCTIONS}")
    per = jnp.sum(per, axis=-1) if reduce == "sum" else jnp.mean(per, axis=-1)
    return jnp.where(mask > 0, per, 0.0)


def update_centers(*, centers: jax.Array, embeddings: jax.Array, labels: jax.Array,
                   mask: jax.Array, alpha: float, rule: str) -> jax.Array:
    """New class centers after one mini-batch; classes absent from the batch do not move.

    Rules (n_j = real rows of class j in the batch):
      `wen`: c_j ← c_j − α · Σ_{i: y_i=j} (c_j − z_i) / (1 + n_j)   (Wen et al. 2016)
      `moving_mean`: c_j ← c_j − α · (c_j − mean_{i: y_i=j} z_i)    (Dai et al.)

    Args:
      centers: [C, D].
      embeddings: [B, D] (their gradient is stopped).
      labels: int [B].
      mask: [B].
      alpha: update rate.
      rule: `wen` or `moving_mean`.

    Returns:
      [C, D] updated centers.
    """
    z = jax.lax.stop_gradient(embeddings).astype(centers.dtype)
    onehot = jax.nn.one_hot(labels, centers.shape[0], dtype=centers.dtype) * mask[:, None].astype(centers.dtype)
    counts = onehot.sum(axis=0)  # [C]
    sums = onehot.T @ z  # [C, D]: Σ_{i: y_i=j} z_i
    if rule == "wen":
        delta = (counts[:, None] * centers - sums) / (1.0 + counts[:, None])
    elif rule == "moving_mean":
        means = sums / jnp.maximum(counts, 1.0)[:, None]
        delta = jnp.where(counts[:, None] > 0, centers - means, 0.0)
    else:
        raise ValueError(f"center update rule {rule!r} is not one of {CENTER_RULES}")
    return centers - alpha * delta


def reconstruction_mse(*, reconstruction: jax.Array, target: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean squared error per example over all feature cells (Tripathi et al.'s L_A).

    Args:
      reconstruction: [B, ...] decoder output (in [0, 1] under the paper's sigmoid).
      target: [B, ...] input scaled with training-fold statistics (to [0, 1] in the paper).
      mask: [B].

    Returns:
      [B], 0 on masked rows.
    """
    err = (reconstruction.astype(jnp.float32) - target.astype(jnp.float32)) ** 2
    per = jnp.mean(err.reshape(err.shape[0], -1), axis=-1)
    return jnp.where(mask > 0, per, 0.0)


def cosine_margin(*, x1: jax.Array, x2: jax.Array, same: jax.Array, mask: jax.Array,
                  margin: float, eps: float = 1e-8) -> jax.Array:
    """Lian et al. eq. 2: 1 − cos(x1, x2) for same-emotion pairs, max(0, cos − m) otherwise.

    Args:
      x1, x2: [B, D] the two utterances' vectors.
      same: [B] 1 if the pair shares an emotion, else 0.
      mask: [B].
      margin: m.

    Returns:
      [B], 0 on masked rows.
    """
    x1, x2 = x1.astype(jnp.float32), x2.astype(jnp.float32)
    cos = jnp.sum(x1 * x2, axis=-1) / jnp.maximum(
        jnp.linalg.norm(x1, axis=-1) * jnp.linalg.norm(x2, axis=-1), eps)
    per = jnp.where(same > 0, 1.0 - cos, jnp.maximum(0.0, cos - margin))
    return jnp.where(mask > 0, per, 0.0)


def pairwise_cross_entropy(*, logits: jax.Array, same: jax.Array, mask: jax.Array) -> jax.Array:
    """Lian et al. eq. 4: 2-way cross-entropy of the discriminator (class 1 = same emotion).

    Args:
      logits: [B, 2].
      same: [B] 1 or 0.
      mask: [B].

    Returns:
      [B], 0 on masked rows.
    """
    return softmax_cross_entropy(logits=logits, labels=same.astype(jnp.int32), mask=mask)
