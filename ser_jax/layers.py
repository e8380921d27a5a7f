"""Layers the encoders and signal heads share: pooling, FC + BN + ReLU, parameter counts."""

from __future__ import annotations

import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax


def _route(x: jax.Array, pooled: jax.Array, g: jax.Array) -> jax.Array:
    """Max-pooling's gradient in one elementwise pass: each input equal to the maximum of
    its window gets that window's gradient (x, pooled and g broadcast to x's shape)."""
    return jnp.where(x == pooled, g, jnp.zeros((), g.dtype)).astype(x.dtype)


def _cut_small(shape, window) -> bool:
    """Whether a small window (at most 2 × 2) leaves rows or columns of x in no window: XLA:CPU
    copies the slice that cuts them off (the pairwise encoder's first pool: 257 columns, 156 ms
    of a 3.4 s step on one core) unless the pool reads strided views of x instead."""
    return window[0] * window[1] <= 4 and bool(shape[1] % window[0] or shape[2] % window[1])


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def max_pool(x: jax.Array, window: Sequence[int]) -> jax.Array:
    """Max-pool [B, H, W, C] over non-overlapping windows (stride = window; a last partial
    row or column of windows is dropped, as VALID pooling does).

    The values of `nn.max_pool(x, window, strides=window)`, written as a reshape + max, with
    a hand-written gradient: each input equal to its window's maximum receives the window's
    gradient, computed in one elementwise pass. XLA:CPU's backward of reduce_window is slow
    (full-size S+A+C step, one core: 17.2 GB and ~16 s against 7.2 GB and ~11 s), and
    autodiff of the reshape + max counts the ties of every window (an extra reduction) to
    share the gradient among them. Equal to both where a window's maximum is unique; a tie
    (e.g. ReLU zeros, repeated padding frames) gives each tied input the full gradient,
    another valid subgradient (after a ReLU, tied zeros get zero gradient either way).
    """
    return _max_pool(x, window)


def _max_pool(x, window):
    b, h, w, c = x.shape
    wh, ww = window
    nh, nw = h // wh, w // ww
    if _cut_small(x.shape, window):  # strided views, read in one fused pass (the cut slice is not copied first)
        return functools.reduce(jnp.maximum, [x[:, i:nh * wh:wh, j:nw * ww:ww] for i in range(wh) for j in range(ww)])
    return x[:, :nh * wh, :nw * ww].reshape(b, nh, wh, nw, ww, c).max(axis=(2, 4))


def _max_pool_fwd(x, window):
    y = _max_pool(x, window)
    return y, (x, y)


def _max_pool_bwd(window, residuals, g):
    x, y = residuals
    b, h, w, c = x.shape
    wh, ww = window
    nh, nw = y.shape[1:3]
    if _cut_small(x.shape, window):  # y and g spread over x's shape (rows and columns in no window: NaN, 0)
        def spread(v, fill):
            v = jnp.broadcast_to(v[:, :, None, :, None], (b, nh, wh, nw, ww, c)).reshape(b, nh * wh, nw * ww, c)
            return jnp.pad(v, ((0, 0), (0, h - nh * wh), (0, w - nw * ww), (0, 0)), constant_values=fill)
        return (_route(x, spread(y, jnp.nan), spread(g, 0)),)
    inner = x[:, :nh * wh, :nw * ww].reshape(b, nh, wh, nw, ww, c)
    dx = _route(inner, y[:, :, None, :, None], g[:, :, None, :, None]).reshape(b, nh * wh, nw * ww, c)
    return (jnp.pad(dx, ((0, 0), (0, h - nh * wh), (0, w - nw * ww), (0, 0))),)


max_pool.defvjp(_max_pool_fwd, _max_pool_bwd)


def half_max_pool(x: jax.Array) -> jax.Array:
    """Max-pool [B, H, W, C] with window = stride = half of H and W → [B, 2, 2, C]."""
    return max_pool(x, (x.shape[1] // 2, x.shape[2] // 2))


def _time_halves(lengths: jax.Array, h: int) -> jax.Array:
    """bool [B, H, 2]: row t in the first / second half of each example's valid rows."""
    lengths = jnp.clip(lengths.astype(jnp.int32), 1, h)[:, None]
    half = jnp.maximum(lengths // 2, 1)
    t = jnp.arange(h)[None, :]
    first = t < half
    second = jnp.where(lengths >= 2, (t >= half) & (t < 2 * half), first)
    return jnp.stack([first, second], axis=-1)


@jax.custom_vjp
def valid_half_max_pool(x: jax.Array, lengths: jax.Array) -> jax.Array:
    """Max-pool [B, H, W, C] to [B, 2, 2, C] over the halves of each example's first
    `lengths[b]` rows (its valid frames) and the halves of the columns, so padding never
    reaches the pooled features. With every row valid it equals `half_max_pool`; a single
    valid row fills both time halves. Gradient as `max_pool`'s (one elementwise pass; a tie
    gives each tied input the full gradient).

    Args:
      x: [B, H, W, C].
      lengths: int [B] valid rows, 1 ≤ lengths ≤ H.
    """
    b, h, w, c = x.shape
    w2 = w // 2
    x = x[:, :, :2 * w2].reshape(b, h, 2, w2, c).max(axis=3)  # [B, H, 2, C]
    halves = _time_halves(lengths, h)
    return jnp.stack([jnp.where(halves[:, :, k, None, None], x, -jnp.inf).max(axis=1) for k in (0, 1)], axis=1)


def _valid_half_max_pool_fwd(x, lengths):
    y = valid_half_max_pool.fun(x, lengths)
    return y, (x, lengths, y)


def _valid_half_max_pool_bwd(residuals, g):
    x, lengths, y = residuals  # y, g: [B, 2 (time half), 2 (column half), C]
    b, h, w, c = x.shape
    w2 = w // 2
    column = jnp.arange(w)[None, :, None]
    in_half = [column < w2, (column >= w2) & (column < 2 * w2)]
    halves = _time_halves(lengths, h)
    dx = jnp.zeros((), x.dtype)
    for k in (0, 1):  # rows of time half k route to y[:, k]; a single valid row is in both halves
        yk = jnp.where(in_half[0], y[:, k, 0, None], jnp.where(in_half[1], y[:, k, 1, None], jnp.inf))  # [B, W, C]
        gk = jnp.where(in_half[0], g[:, k, 0, None], g[:, k, 1, None])
        dx = dx + jnp.where(halves[:, :, k, None, None], _route(x, yk[:, None], gk[:, None]), 0)
    return dx, None


valid_half_max_pool.defvjp(_valid_half_max_pool_fwd, _valid_half_max_pool_bwd)


def valid_half_mean_pool(x: jax.Array, lengths: jax.Array) -> jax.Array:
    """Mean of [B, H, W, C] over the same quadrants as `valid_half_max_pool` (the halves of
    each example's first `lengths[b]` rows and of the columns; an odd width's last column in
    neither) → [B, 2, 2, C]; padding rows never enter it."""
    b, h, w, c = x.shape
    w2 = w // 2
    cols = x[:, :, :2 * w2].reshape(b, h, 2, w2, c).astype(jnp.float32).mean(axis=3)  # [B, H, 2, C], float32 sums
    halves = _time_halves(lengths, h).astype(jnp.float32)  # [B, H, 2]
    sums = jnp.einsum("bhk,bhjc->bkjc", halves, cols)
    return (sums / jnp.maximum(halves.sum(axis=1), 1)[:, :, None, None]).astype(x.dtype)


def dot_float32_sums(lhs, rhs, dimension_numbers, precision=None, **_):
    """`lax.dot_general` that sums in float32 whatever its operands' dtype, its result in theirs.

    A bfloat16 product that returns bfloat16 runs on XLA:CPU at float32 speed or below; asked for
    a float32 result it reaches the CPU's bf16 matrix units (one core of an AMX Xeon: ~1 TFLOP/s
    against ~0.17, `benchmarks/gemm.py --dtypes=bfloat16,bfloat16_out`), and its sums are not
    rounded to bf16 on the way. The same product for float32 operands."""
    out = lax.dot_general(lhs, rhs, dimension_numbers, precision=precision, preferred_element_type=jnp.float32)
    return out.astype(jnp.result_type(lhs, rhs))


# flax's Dense (same parameters, names and initialisation) with its product summed in float32
Dense = functools.partial(nn.Dense, dot_general=dot_float32_sums)


def fc_bn_relu(x: jax.Array, width: int, name: str, *, train: bool, momentum: float, dtype) -> jax.Array:
    """Dense `{name}_fc` → BatchNorm `{name}_bn` → ReLU, created in the calling module."""
    y = Dense(width, dtype=dtype, name=f"{name}_fc")(x)
    y = nn.BatchNorm(use_running_average=not train, momentum=momentum, dtype=dtype, name=f"{name}_bn")(y)
    return nn.relu(y)


def count_params(params) -> int:
    """Number of trainable scalars in a parameter tree."""
    return int(sum(x.size for x in jax.tree_util.tree_leaves(params)))


def as_float32(x: jax.Array) -> jax.Array:
    return x.astype(jnp.float32)
