"""Stride-1 2-D convolution whose weight gradient can be computed by GEMMs, or, when its
output is max-pooled over its halves, from the input patches under the maxima alone.

XLA:CPU computes a convolution's weight gradient (its backward-filter convolution) slowly:
measured on one core, 1.7–8× slower than GEMMs giving the same numbers, on every 3 × 3
layer of the CNN + BiGRU and pairwise models. `conv2d` keeps XLA's input gradient and (but for
a one-channel kernel of at most 9 taps: shifted multiply-adds, `_cpu_conv`) its forward, and lets
the weight gradient be chosen:

- `xla`: autodiff through XLA's convolution.
- `gemm` (custom VJP): per utterance, dW[k] = X_kᵀ · G, with G the output gradient
  [H'·W', C_out] and X_k the input rows that meet kernel tap k; per-utterance sums, then
  the sum over the batch (shorter float32 sums than one flat contraction).
  - One input channel (the parallel CNN's 24–120 taps, the first 3 × 3 layer of the CNN +
    BiGRU and pairwise encoders): a tap alone would be a rank-1 product that reads the whole
    output gradient, so the taps are gathered into one im2col matrix [H'·W', kh·kw] per
    utterance (`_patches`: a gather, not a convolution; kh·kw times the one-channel input,
    smaller than the gradient) and one batched GEMM gives every tap of every utterance,
    reading the gradient once. For the pairwise encoder's first layer this took the weight
    gradient from ~400 to ~200 ms of a ~3 s step (docs/benchmarks.md).
  - Otherwise (3 × 3 layers with several input channels): a scan over the utterances, each
    tap one GEMM over a shifted view [H'·W', C_in], with no 9×-larger im2col copy of the
    batch in memory.
  - Measured on 2 cores, the full steps were fastest this way. Scanning the parallel
    CNN's large kernels too, or scanning 2 or 4 utterances a step, was slower: XLA runs
    the layers' independent weight gradients side by side.
- `pooled`: for a convolution whose output is max-pooled over its time and frequency
  halves (the parallel CNN's paths, `conv_half_max_pool`): convolution and pooling are one
  operation that keeps, per pooled value, the position of its maximum, and whose weight
  gradient reads only the kh × kw input patch under each maximum: dW[tap] = Σ g · patch,
  B·4·C_out patches in place of the im2col matrix of every position and its GEMM (all other
  positions have a zero gradient). A tie within a quadrant gives the gradient to its first
  position (row-major), as PyTorch's max-pool does; the two-step path (`gemm`, `xla`) gives
  every tied position the full gradient (`layers.max_pool`). On EmoDB the two differ
  almost nowhere: 9 extra tied positions for 98,304 quadrant maxima (benchmarks/pool_ties.py).
  The forward is the same convolution, and the last output column of an odd width (in no
  half) is not computed. Default parallel CNN step on one core of an AMX Xeon: ~215–245 ms
  with `gemm`, ~85 ms with `pooled` (docs/benchmarks.md). Other convolutions: refused.
  The CNN + BiGRU and pairwise encoders take `pooled` too: there it means their first block
  (one-channel conv → BatchNorm → ReLU → 2 × 2 pool) computed as one operation in float32
  training (`ser_jax.conv_block`), and `gemm` for their other convolutions.
- `auto`: on CPU `pooled` where a convolution is pooled that way, else `gemm`; `xla`
  elsewhere (GPU convolutions are cuDNN's, and a GEMM there would run at TF32 by default).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn
from jax import lax

from ser_jax import layers

WEIGHT_GRADS = ("auto", "xla", "gemm", "pooled")
PADDINGS = ("VALID", "SAME")
_DIMS = ("NHWC", "HWIO", "NHWC")
KERNEL_INIT = nn.initializers.lecun_normal()  # nn.Conv's


def same_pads(kh: int, kw: int) -> list:
    """(before, after) zeros of each spatial axis for SAME padding (the odd one after, as XLA pads)."""
    return [((k - 1) // 2, k - 1 - (k - 1) // 2) for k in (kh, kw)]


def _xla_conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
    return lax.conv_general_dilated(x, kernel, (1, 1), "VALID", dimension_numbers=_DIMS)


def _patches(x: jax.Array, kh: int, kw: int) -> jax.Array:
    """im2col of a one-channel x [B, H, W, 1] for a VALID kh × kw kernel: [B, H'·W', kh·kw],
    taps (i, j) row-major, gathered by index. Measured on one core (parallel CNN at the
    default size), the gather beat the alternatives: lax.conv_general_dilated_patches
    (a convolution with a one-hot kernel, (kh·kw)² multiply-adds per position: 60 % of the
    step), stacked slices (one copy per tap), and XLA's backward-filter convolution."""
    b, height, width, _ = x.shape
    h, w = height - kh + 1, width - kw + 1
    tap = (np.arange(kh)[:, None] * width + np.arange(kw)[None, :]).reshape(1, -1)
    position = (np.arange(h)[:, None] * width + np.arange(w)[None, :]).reshape(-1, 1)
    return x.reshape(b, height * width)[:, position + tap]


def _weight_grad(x: jax.Array, g: jax.Array, kernel_shape: tuple) -> jax.Array:
    """dW [kh, kw, C_in, C_out] of the VALID conv x [B, H, W, C_in] → g [B, H', W', C_out]."""
    kh, kw, cin, cout = kernel_shape
    b, h, w = g.shape[:3]

    def gemm(a, g):  # per-utterance aᵀ·g [B, K, C_out], accumulated in float32
        return jnp.einsum("bmk,bmc->bkc", a, g, precision=lax.Precision.HIGHEST, preferred_element_type=jnp.float32)

    if cin == 1:  # one input channel: one im2col GEMM per utterance
        patches = _patches(x, kh, kw)  # [B, H'·W', kh·kw]
        return gemm(patches, g.reshape(b, h * w, cout)).sum(axis=0).reshape(kernel_shape)

    def one_utterance(total, xg):
        xu, gu = xg  # one utterance each, kept as a batch of 1 for `gemm`
        gm = gu.reshape(1, h * w, cout)
        taps = jnp.stack([gemm(xu[:, i:i + h, j:j + w].reshape(1, h * w, cin), gm)[0]
                          for i in range(kh) for j in range(kw)])
        return total + taps, None

    total, _ = lax.scan(one_utterance, jnp.zeros((kh * kw, cin, cout), jnp.float32), (x[:, None], g[:, None]))
    return total.reshape(kernel_shape)


def _cpu_conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """The forward of the `gemm` formulation. One input channel and a small kernel (the first
    layer of the CNN + BiGRU and pairwise encoders): kh·kw shifted multiply-adds, one
    elementwise pass that XLA fuses with the bias and what follows; XLA:CPU's convolution
    for one input channel took 231 ms for the pairwise encoder's first layer (one core) and
    its output another pass for the bias. Otherwise XLA's convolution."""
    kh, kw, cin, _ = kernel.shape
    if cin != 1 or kh * kw > 9:
        return _xla_conv(x, kernel)
    h, w = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    return sum(x[:, i:i + h, j:j + w] * kernel[i, j, 0] for i in range(kh) for j in range(kw))


@jax.custom_vjp
def _conv_gemm_grad(x: jax.Array, kernel: jax.Array) -> jax.Array:
    return _cpu_conv(x, kernel)


def _forward(x, kernel):
    return _cpu_conv(x, kernel), (x, kernel)


def _backward(residuals, g):
    x, kernel = residuals
    _, input_vjp = jax.vjp(lambda v: _xla_conv(v, kernel), x)
    (dx,) = input_vjp(g)
    return dx, _weight_grad(x, g, kernel.shape).astype(kernel.dtype)


_conv_gemm_grad.defvjp(_forward, _backward)


def resolve(weight_grad: str, *, pooled: bool = False) -> str:
    """`auto` → the formulation for the default backend; `pooled`: whether the convolution
    is one of `conv_half_max_pool` (the only place the `pooled` formulation applies)."""
    if weight_grad not in WEIGHT_GRADS:
        raise ValueError(f"conv weight gradient {weight_grad!r} is not one of {WEIGHT_GRADS}")
    if weight_grad == "pooled" and not pooled:
        raise ValueError("`pooled` applies only to convolutions max-pooled over their halves "
                         "(the parallel CNN); use auto, gemm or xla")
    if weight_grad == "auto":
        if jax.default_backend() != "cpu":
            return "xla"
        return "pooled" if pooled else "gemm"
    return weight_grad


CONV_DTYPES = ("auto", "float32", "bfloat16")


def resolve_dtype(conv_dtype: str, dtype) -> jnp.dtype:
    """The compute dtype of a model's convolution stack. `auto`: float32 on CPU, whose XLA has
    no bfloat16 convolution faster than its float32 one (bf16 would add conversions and lose
    the fused float32 paths: docs/benchmarks.md), the model's `dtype` elsewhere; `float32` or
    `bfloat16`: that dtype."""
    if conv_dtype not in CONV_DTYPES:
        raise ValueError(f"conv dtype {conv_dtype!r} is not one of {CONV_DTYPES}")
    if conv_dtype == "auto":
        return jnp.dtype(jnp.float32) if jax.default_backend() == "cpu" else jnp.dtype(dtype)
    return jnp.dtype(conv_dtype)


def conv2d(x: jax.Array, kernel: jax.Array, *, padding: str = "VALID", weight_grad: str = "auto") -> jax.Array:
    """Stride-1 convolution of x [B, H, W, C_in] with kernel [kh, kw, C_in, C_out].

    Args:
      padding: `VALID`, or `SAME` (zeros; the odd one of an even kernel after, as XLA pads).
      weight_grad: `auto`, `xla` or `gemm` (module docstring).
    """
    if padding not in PADDINGS:
        raise ValueError(f"padding {padding!r} is not one of {PADDINGS}")
    if x.shape[-1] != kernel.shape[2]:
        raise ValueError(f"input has {x.shape[-1]} channels, kernel expects {kernel.shape[2]}")
    if padding == "SAME":
        pads = same_pads(*kernel.shape[:2])
        x = jnp.pad(x, [(0, 0), *pads, (0, 0)])
    return (_conv_gemm_grad if resolve(weight_grad) == "gemm" else _xla_conv)(x, kernel)


def _pool_with_positions(y: jax.Array, lengths: jax.Array) -> tuple[jax.Array, jax.Array]:
    """`layers.valid_half_max_pool(y, lengths)` [B, 2, 2, C] of y [B, H, W, C], and int32
    [B, 2, 2, C]: the flat position (row · W + column) of each maximum, the first in row-major
    order where it ties; H · W where there is none (a NaN maximum).

    Row by row first (each row's maximum in each column half and its first column: one pass
    over y per half), then over the rows of each time half on the [B, H, C] row maxima: ~6 ms
    for the default parallel CNN's largest layer on one core, against ~35 ms for comparing
    every element with its quadrant's maximum."""
    b, h, w, c = y.shape
    if w % 2:
        raise ValueError(f"an even width is pooled here, not {w}")
    w2 = w // 2
    halves = layers._time_halves(lengths, h)  # [B, H, 2]
    rows = jnp.arange(h)[None, :, None]
    pooled, positions = [], []  # per time half
    by_half = y.reshape(b, h, 2, w2, c)  # w even: a bitcast, no copy (XLA:CPU copies a slice)
    row_max = by_half.max(axis=3)  # [B, H, 2, C]: each row's maximum in each column half
    first_column = jnp.where(by_half == row_max[:, :, :, None], jnp.arange(w2)[None, None, None, :, None],
                             w2).min(axis=3) + jnp.array([0, w2])[None, None, :, None]
    for k in (0, 1):
        inside = halves[:, :, k, None, None]
        top = jnp.where(inside, row_max, -jnp.inf).max(axis=1)  # [B, 2, C]
        row = jnp.where(inside & (row_max == top[:, None]), rows[..., None], h).min(axis=1)  # [B, 2, C]
        column = jnp.take_along_axis(first_column, jnp.minimum(row, h - 1)[:, None], axis=1)[:, 0]
        pooled.append(top)
        positions.append(jnp.where(row < h, row * w + column, h * w))
    return jnp.stack(pooled, axis=1), jnp.stack(positions, axis=1).astype(jnp.int32)


@jax.custom_vjp
def _conv_pool(x: jax.Array, kernel: jax.Array, lengths: jax.Array) -> jax.Array:
    return layers.valid_half_max_pool.fun(_cpu_conv(x, kernel), lengths)


def _conv_pool_forward(x, kernel, lengths):
    pooled, positions = _pool_with_positions(_cpu_conv(x, kernel), lengths)
    return pooled, (x, kernel, positions)


def _conv_pool_backward(residuals, g):
    """g [B, 2, 2, C_out] reaches only the position of each maximum: dW sums g times the
    input patch there, dx adds g times the kernel there."""
    x, kernel, positions = residuals
    kh, kw, cin, cout = kernel.shape
    b, height, width, _ = x.shape
    w_out = width - kw + 1
    tap = (np.arange(kh)[:, None] * width + np.arange(kw)[None, :]).reshape(-1)
    # one flat index into x [B·H·W, C_in] per (example, quadrant, channel, tap): a 1-D gather
    # (a [batch, position] index pair per element cost ~15 ms to build for the 10 × 12 layer);
    # each patch's top-left corner, past the end of x where there is no maximum (NaN)
    corner = (positions // w_out) * width + positions % w_out + (jnp.arange(b) * height * width)[:, None, None, None]
    start = jnp.where(positions < (height - kh + 1) * w_out, corner, b * height * width)
    index = (start[..., None] + tap).reshape(-1)
    rows = jnp.asarray(x).reshape(b * height * width, cin)  # asarray: x may be a constant, not a tracer
    patches = rows.at[index].get(mode="fill", fill_value=jnp.nan).reshape(b, 4, cout, kh * kw, cin)
    g4 = g.reshape(b, 4, cout)
    dw = jnp.einsum("bqc,bqcti->tic", g4, patches, preferred_element_type=jnp.float32)
    spread = jnp.einsum("bqc,tic->bqcti", g4, kernel.reshape(kh * kw, cin, cout),
                        preferred_element_type=jnp.float32).reshape(-1, cin)
    dx = jnp.zeros((b * height * width, cin), jnp.float32).at[index].add(spread, mode="drop")
    return dx.reshape(x.shape).astype(x.dtype), dw.reshape(kernel.shape).astype(kernel.dtype), None


_conv_pool.defvjp(_conv_pool_forward, _conv_pool_backward)


def conv_half_max_pool(x: jax.Array, kernel: jax.Array, lengths: jax.Array, *,
                       weight_grad: str = "auto") -> jax.Array:
    """`layers.valid_half_max_pool(conv2d(x, kernel), lengths)`: the VALID convolution of x
    [B, H, W, C_in] max-pooled over the halves of each example's first `lengths` output rows
    and of its columns → [B, 2, 2, C_out]. weight_grad `pooled` (`auto` on CPU): one operation
    whose gradient reaches the maxima's patches only (module docstring)."""
    if x.shape[-1] != kernel.shape[2]:
        raise ValueError(f"input has {x.shape[-1]} channels, kernel expects {kernel.shape[2]}")
    formulation = resolve(weight_grad, pooled=True)
    if formulation == "pooled":
        # the last output column of an odd width is in no column half: leave its input column out
        kw = kernel.shape[1]
        return _conv_pool(x[:, :, :2 * ((x.shape[2] - kw + 1) // 2) + kw - 1], kernel, lengths)
    return layers.valid_half_max_pool(conv2d(x, kernel, weight_grad=formulation), lengths)


class Conv(nn.Module):
    """`nn.Conv(features, kernel_size, padding=padding)` at stride 1, with the weight gradient
    of `conv2d`: the same parameters (`kernel` [kh, kw, C_in, C_out], `bias` [C_out]),
    initialisation and default name (Conv_0, ...), so checkpoints of either load in both."""

    features: int
    kernel_size: tuple
    padding: str = "VALID"
    weight_grad: str = "auto"
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, pool_lengths=None):
        """`pool_lengths`: int [B] valid output rows. Given, the output is max-pooled over its
        halves (`conv_half_max_pool`, VALID padding only) before the bias is added: the
        pool commutes with a per-channel bias (max(z) + b = max(z + b)), and pooling first
        spares a pass over the full-size output (the parallel CNN)."""
        kh, kw = self.kernel_size
        kernel = self.param("kernel", KERNEL_INIT, (kh, kw, x.shape[-1], self.features),
                            jnp.float32)
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,), jnp.float32)
        x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
        if pool_lengths is None:
            y = conv2d(x, kernel, padding=self.padding, weight_grad=self.weight_grad)
        elif self.padding != "VALID":
            raise ValueError("a pooled convolution takes VALID padding")
        else:
            y = conv_half_max_pool(x, kernel, pool_lengths, weight_grad=self.weight_grad)
        return y + bias.astype(self.dtype)
