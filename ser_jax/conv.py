"""Stride-1 2-D convolution whose weight gradient can be computed by GEMMs.

XLA:CPU computes a convolution's weight gradient (its backward-filter convolution) slowly:
measured on one core, 1.7–8× slower than GEMMs giving the same numbers, on every 3 × 3
layer of the CNN + BiGRU and pairwise models. `conv2d` keeps XLA's input gradient and (but for
a one-channel kernel of at most 9 taps: shifted multiply-adds, `_cpu_conv`) its forward, and lets
the weight gradient be chosen:

- `xla`: autodiff through XLA's convolution.
- `gemm` (custom VJP): per utterance, dW[k] = X_kᵀ · G, with G the output gradient
  [H'·W', C_out] and X_k the input rows that meet kernel tap k; per-utterance sums, then
  the sum over the batch (shorter float32 sums than one flat contraction).
  - One input channel and a large kernel (the parallel CNN's 24–120 taps): a tap alone
    would be a rank-1 product, so the taps are gathered into one im2col matrix
    [H'·W', kh·kw] per utterance (`_patches`: a gather, not a convolution) and one batched
    GEMM gives every tap of every utterance.
  - Otherwise (the 3 × 3 layers): a scan over the utterances, each tap one GEMM over a
    shifted view [H'·W', C_in], with no 9×-larger im2col copy of the batch in memory.
  - Measured on 2 cores, the full steps were fastest this way. Scanning the parallel
    CNN's large kernels too, or scanning 2 or 4 utterances a step, was slower: XLA runs
    the layers' independent weight gradients side by side.
- `auto`: `gemm` on CPU, `xla` elsewhere (GPU convolutions are cuDNN's, and a GEMM there
  would run at TF32 by default).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn
from jax import lax

WEIGHT_GRADS = ("auto", "xla", "gemm")
PADDINGS = ("VALID", "SAME")
_DIMS = ("NHWC", "HWIO", "NHWC")


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

    if cin == 1 and kh * kw > 9:  # one input channel, large kernel (the parallel CNN)
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


def resolve(weight_grad: str) -> str:
    """`auto` → the formulation for the default backend."""
    if weight_grad not in WEIGHT_GRADS:
        raise ValueError(f"conv weight gradient {weight_grad!r} is not one of {WEIGHT_GRADS}")
    if weight_grad == "auto":
        return "gemm" if jax.default_backend() == "cpu" else "xla"
    return weight_grad


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
        pads = [((k - 1) // 2, k - 1 - (k - 1) // 2) for k in kernel.shape[:2]]
        x = jnp.pad(x, [(0, 0), *pads, (0, 0)])
    return (_conv_gemm_grad if resolve(weight_grad) == "gemm" else _xla_conv)(x, kernel)


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
    def __call__(self, x, before_bias=None):
        """`before_bias`: a function applied to the convolution before its bias is added, for
        a per-channel max-pool that commutes with it (max(z) + b = max(z + b)): pooling first
        spares a pass over the full-size output (the parallel CNN)."""
        kh, kw = self.kernel_size
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (kh, kw, x.shape[-1], self.features),
                            jnp.float32)
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,), jnp.float32)
        y = conv2d(x.astype(self.dtype), kernel.astype(self.dtype), padding=self.padding,
                   weight_grad=self.weight_grad)
        if before_bias is not None:
            y = before_bias(y)
        return y + bias.astype(self.dtype)
