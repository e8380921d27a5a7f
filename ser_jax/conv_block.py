"""A one-channel convolution block — Conv (SAME) → BatchNorm (batch statistics) → ReLU →
2 × 2 max-pool — as one operation for training on CPU: the first block of the CNN + BiGRU
(001) and pairwise (002) encoders.

Layer by layer, that block writes and reads its full-size activation many times (conv
output, BatchNorm's centred and scaled copies, ReLU, the pool and each of their backward
passes): 32 channels at every position of a 300 × 128 input, 157 MB a batch, ~370 ms of a
~1.1 s CNN + BiGRU step on one core (docs/benchmarks.md). Here it never exists:

- BatchNorm's statistics come from the input alone. With p the kh·kw input patch of a
  position, y = wᵀp + b, so Σy = wᵀS + N·b and Σy² uses G = Σ p pᵀ (the kh·kw × kh·kw Gram
  matrix of the patches): mean = wᵀS/N + b, var = wᵀGw/N − (wᵀS/N)² (flax's fast variance,
  clipped at 0; the bias cancels).
- One pass over the pooled positions computes, per 2 × 2 window, the four outputs from the
  input (kh·kw multiply-adds each), BatchNorm and ReLU, their maximum, and four bits saying
  which of them equal it (a tie gives each tied position the gradient, as
  `layers.max_pool` does; after a ReLU a zero maximum gives none).
- The backward needs only the gradient's sparse part: the pooled gradient reaches the
  positions of those bits, g_u. BatchNorm's backward is g_y = a·g_u + c₁ + c₂·(y − mean)
  per channel (a = scale/√(var + eps)), so dW = a·Σ p g_u + S c₁ᵀ + c₂·(Gw + S(b − mean)ᵀ):
  one small GEMM over the pooled positions' patches, the rest from S and G.

Values are those of the layer-by-layer block up to float32 rounding (its statistics are
summed in another order), gradients too (tests/test_conv_block.py, against float64).
The input gradient is computed (dense) only where something asks for it; training asks for
none. Eval mode and bf16 keep the layer-by-layer block (`ConvGRU`, `SattCNN`).
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ser_jax import conv, layers

EPSILON = 1e-5  # flax BatchNorm's default


def applies(weight_grad: str, x_shape: tuple, dtype, *, train: bool) -> bool:
    """Whether a block on x [B, H, W, C_in] takes this path: `pooled` formulation (`auto` on
    CPU), training, float32, one input channel, a 2 × 2 window that fits."""
    return (train and conv.resolve(weight_grad, pooled=True) == "pooled" and jnp.dtype(dtype) == jnp.float32
            and x_shape[-1] == 1 and min(x_shape[1:3]) >= 2)


def _views(xp: jax.Array, kh: int, kw: int, di: int, dj: int, hp: int, wp: int) -> list:
    """The kh·kw views [B, hp, wp] of the padded input xp [B, H', W'] under the outputs at rows
    di, di + 2, ... and columns dj, dj + 2, ... (tap (i, j) row-major)."""
    return [xp[:, di + i:di + i + 2 * hp - 1:2, dj + j:dj + j + 2 * wp - 1:2] for i in range(kh) for j in range(kw)]


def _conv_at(views: list, kernel: jax.Array, bias: jax.Array) -> jax.Array:
    """Conv output [B, hp, wp, C] from its views, as `conv._cpu_conv` sums the taps."""
    kh, kw = kernel.shape[:2]
    return sum(v[..., None] * kernel[i, j, 0] for (i, j), v in zip(np.ndindex(kh, kw), views)) + bias


def _moments(xp: jax.Array, kh: int, kw: int, h: int, w: int) -> tuple[jax.Array, jax.Array]:
    """S [K] and G [K, K] (K = kh·kw) of the patches of every output position: each of the
    K(K + 1)/2 products of two shifted views summed on its own (one core, 32 × 300 × 128: ~30 ms,
    against ~75 ms for a [K, B·H·W] tap matrix and one GEMM, ~160 ms for an im2col gather
    and a GEMM: XLA:CPU copies the taps slowly)."""
    taps = [xp[:, i:i + h, j:j + w] for i in range(kh) for j in range(kw)]
    k = len(taps)
    pair = {(a, c): jnp.sum(taps[a] * taps[c]) for a in range(k) for c in range(a, k)}
    gram = jnp.stack([jnp.stack([pair[min(a, c), max(a, c)] for c in range(k)]) for a in range(k)])
    return jnp.stack([t.sum() for t in taps]), gram


def _forward(x, kernel, bias, scale, beta):
    b, h, w, _ = x.shape
    kh, kw, _, c = kernel.shape
    xp = jnp.pad(x[..., 0], [(0, 0), *conv.same_pads(kh, kw)])
    n = b * h * w
    sums, gram = _moments(xp, kh, kw, h, w)
    w2 = kernel.reshape(kh * kw, c)
    m0 = sums @ w2 / n
    mean = m0 + bias
    var = jnp.maximum(0.0, jnp.einsum("kc,kl,lc->c", w2, gram, w2, precision=lax.Precision.HIGHEST) / n - m0 * m0)
    mul = lax.rsqrt(var + EPSILON) * scale
    hp, wp = h // 2, w // 2
    u = [(_conv_at(_views(xp, kh, kw, di, dj, hp, wp), kernel, bias) - mean) * mul + beta
         for di in (0, 1) for dj in (0, 1)]
    z = [nn.relu(v) for v in u]
    pooled = functools.reduce(jnp.maximum, z)
    bits = sum(((v == pooled) & (pooled > 0)).astype(jnp.uint8) << q for q, v in enumerate(z))
    return (pooled, mean, var), (xp, kernel, bias, scale, mean, var, sums, gram, bits)


@jax.custom_vjp
def _block(x, kernel, bias, scale, beta):
    return _forward(x, kernel, bias, scale, beta)[0]


def _backward(residuals, cotangents):
    xp, kernel, bias, scale, mean, var, sums, gram, bits = residuals
    g_pool, g_mean, g_var = cotangents
    kh, kw, _, c = kernel.shape
    b, hp, wp, _ = g_pool.shape
    h, w = xp.shape[1] - kh + 1, xp.shape[2] - kw + 1
    n = b * h * w
    w2 = kernel.reshape(kh * kw, c)
    r = lax.rsqrt(var + EPSILON)
    mul = r * scale
    g_u, sparse = [], jnp.zeros((kh * kw, c), jnp.float32)  # per window position q; Σ p g_u
    for q, (di, dj) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        g_q = jnp.where(((bits >> q) & 1) == 1, g_pool, 0.0)
        p_q = jnp.stack(_views(xp, kh, kw, di, dj, hp, wp)).reshape(kh * kw, b * hp * wp)  # taps major: copies of rows
        sparse = sparse + jnp.dot(p_q, g_q.reshape(b * hp * wp, c), precision=lax.Precision.HIGHEST)
        g_u.append(g_q)
    sum_g = sum(g.sum(axis=(0, 1, 2)) for g in g_u)
    sum_gy = (w2 * sparse).sum(axis=0) + (bias - mean) * sum_g  # Σ g_u (y − mean)
    c1 = (g_mean - mul * sum_g) / n
    c2 = (2 * g_var - mul * r * r * sum_gy) / n
    centred = gram @ w2 + jnp.outer(sums, bias - mean)  # Σ p (y − mean)ᵀ
    d_kernel = (mul * sparse + jnp.outer(sums, c1) + c2 * centred).reshape(kernel.shape)
    d_bias = g_mean + c2 * (sums @ w2 + n * (bias - mean))  # Σ g_y: g_mean up to rounding
    d_scale = sum_gy * r
    d_beta = sum_g

    # input gradient (dense; dropped by XLA where nothing asks for it, as in training)
    g_dense = jnp.stack(g_u, axis=3).reshape(b, hp, wp, 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
    g_dense = jnp.pad(g_dense.reshape(b, 2 * hp, 2 * wp, c), ((0, 0), (0, h - 2 * hp), (0, w - 2 * wp), (0, 0)))
    y = conv._cpu_conv(xp[..., None], kernel) + bias
    g_y = mul * g_dense + c1 + c2 * (y - mean)
    _, input_vjp = jax.vjp(lambda v: conv._cpu_conv(v, kernel), xp[..., None])
    (dxp,) = input_vjp(g_y)
    (ph, _), (pw, _) = conv.same_pads(kh, kw)
    dx = dxp[:, ph:ph + h, pw:pw + w]
    return dx, d_kernel, d_bias, d_scale, d_beta


_block.defvjp(_forward, _backward)


def conv_bn_relu_pool(x: jax.Array, kernel: jax.Array, bias: jax.Array, scale: jax.Array,
                      beta: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """`max_pool(relu(BatchNorm(conv2d(x, kernel, SAME) + bias)), 2 × 2)` in training mode, for
    x [B, H, W, 1] float32 and kernel [kh, kw, 1, C]: (pooled [B, H//2, W//2, C], the batch
    mean [C], the batch variance [C]) as flax's BatchNorm computes them (epsilon 1e-5)."""
    if x.shape[-1] != 1 or kernel.shape[2] != 1:
        raise ValueError(f"one input channel only, not input {x.shape} and kernel {kernel.shape}")
    return _block(x, kernel, bias, scale, beta)


class ConvVars(nn.Module):
    """conv.Conv's parameters (`kernel` [kh, kw, C_in, C_out], `bias`), same initialisers and
    name, for a block that computes the convolution itself."""

    features: int
    kernel_size: tuple

    @nn.compact
    def __call__(self, cin: int) -> tuple[jax.Array, jax.Array]:
        kernel = self.param("kernel", conv.KERNEL_INIT, (*self.kernel_size, cin, self.features), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,), jnp.float32)
        return kernel, bias


class BatchNormReLUPool(nn.Module):
    """Holds nn.BatchNorm's variables (params `scale`, `bias`; batch_stats `mean`, `var`:
    same names, initialisers and running-average update) and applies the fused block; named
    like the BatchNorm it replaces, so checkpoints of either load in both."""

    momentum: float = 0.99

    @nn.compact
    def __call__(self, x: jax.Array, kernel: jax.Array, bias: jax.Array) -> jax.Array:
        c = kernel.shape[-1]
        scale = self.param("scale", nn.initializers.ones_init(), (c,), jnp.float32)
        beta = self.param("bias", nn.initializers.zeros_init(), (c,), jnp.float32)
        ra_mean = self.variable("batch_stats", "mean", lambda s: jnp.zeros(s, jnp.float32), (c,))
        ra_var = self.variable("batch_stats", "var", lambda s: jnp.ones(s, jnp.float32), (c,))
        pooled, mean, var = conv_bn_relu_pool(x, kernel, bias, scale, beta)
        if not self.is_initializing():
            ra_mean.value = self.momentum * ra_mean.value + (1 - self.momentum) * mean
            ra_var.value = self.momentum * ra_var.value + (1 - self.momentum) * var
        return pooled


def block(x: jax.Array, channels: int, kernel_size: tuple, index: int, *, train: bool, momentum: float,
          weight_grad: str, dtype, conv_padding: str = "SAME") -> jax.Array:
    """Conv `Conv_{index}` → BatchNorm `BatchNorm_{index}` → ReLU → 2 × 2 max-pool, called from a
    compact module: fused (`conv_bn_relu_pool`) where `applies`, else layer by layer (the
    formulation `pooled` then means `gemm` for the convolution)."""
    if applies(weight_grad, x.shape, dtype, train=train):
        kernel, bias = ConvVars(channels, tuple(kernel_size), name=f"Conv_{index}")(x.shape[-1])
        return BatchNormReLUPool(momentum=momentum, name=f"BatchNorm_{index}")(x, kernel, bias)
    formulation = "gemm" if conv.resolve(weight_grad, pooled=True) == "pooled" else weight_grad
    h = conv.Conv(channels, tuple(kernel_size), padding="SAME", weight_grad=formulation, dtype=dtype,
                  name=f"Conv_{index}")(x)
    h = nn.BatchNorm(use_running_average=not train, momentum=momentum, dtype=dtype, name=f"BatchNorm_{index}")(h)
    return layers.max_pool(nn.relu(h), (2, 2))
