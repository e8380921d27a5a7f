"""Layers the encoders and signal heads share: pooling, FC + BN + ReLU, parameter counts."""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


def max_pool(x: jax.Array, window: Sequence[int]) -> jax.Array:
    """Max-pool [B, H, W, C] over non-overlapping windows (stride = window; a last partial
    row or column of windows is dropped, as VALID pooling does).

    The values of `nn.max_pool(x, window, strides=window)`, written as a reshape + max
    because XLA:CPU's backward of reduce_window is slow. Measured on one core: the full-size
    S+A+C step (batch 32, 188 × 128, 200 kernels per path) 17.2 GB and ~16 s against 7.2 GB
    and ~11 s; the pairwise encoder's gradient (64 × 400 × 257) 10.9 s against 6.5 s. The
    gradients are equal where a window's maximum is unique; a tie (e.g. repeated padding
    frames) shares the gradient among the tied inputs instead of giving it to the first, an
    equally valid subgradient.
    """
    b, h, w, c = x.shape
    wh, ww = window
    nh, nw = h // wh, w // ww
    return x[:, :nh * wh, :nw * ww].reshape(b, nh, wh, nw, ww, c).max(axis=(2, 4))


def half_max_pool(x: jax.Array) -> jax.Array:
    """Max-pool [B, H, W, C] with window = stride = half of H and W → [B, 2, 2, C]."""
    return max_pool(x, (x.shape[1] // 2, x.shape[2] // 2))


def valid_half_max_pool(x: jax.Array, lengths: jax.Array) -> jax.Array:
    """Max-pool [B, H, W, C] to [B, 2, 2, C] over the halves of each example's first
    `lengths[b]` rows (its valid frames) and the halves of the columns, so padding never
    reaches the pooled features. With every row valid it equals `half_max_pool`; a single
    valid row fills both time halves.

    Args:
      x: [B, H, W, C].
      lengths: int [B] valid rows, 1 ≤ lengths ≤ H.
    """
    b, h, w, c = x.shape
    w2 = w // 2
    x = x[:, :, :2 * w2].reshape(b, h, 2, w2, c).max(axis=3)  # [B, H, 2, C]
    lengths = jnp.clip(lengths.astype(jnp.int32), 1, h)[:, None]
    half = jnp.maximum(lengths // 2, 1)
    t = jnp.arange(h)[None, :]
    first = t < half
    second = jnp.where(lengths >= 2, (t >= half) & (t < 2 * half), first)
    halves = [jnp.where(m[:, :, None, None], x, -jnp.inf).max(axis=1) for m in (first, second)]
    return jnp.stack(halves, axis=1)


def fc_bn_relu(x: jax.Array, width: int, name: str, *, train: bool, momentum: float, dtype) -> jax.Array:
    """Dense `{name}_fc` → BatchNorm `{name}_bn` → ReLU, created in the calling module."""
    y = nn.Dense(width, dtype=dtype, name=f"{name}_fc")(x)
    y = nn.BatchNorm(use_running_average=not train, momentum=momentum, dtype=dtype, name=f"{name}_bn")(y)
    return nn.relu(y)


def count_params(params) -> int:
    """Number of trainable scalars in a parameter tree."""
    return int(sum(x.size for x in jax.tree_util.tree_leaves(params)))


def as_float32(x: jax.Array) -> jax.Array:
    return x.astype(jnp.float32)
