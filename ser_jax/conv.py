"""Stride-1 2-D convolution whose weight gradient can be computed by GEMMs.

XLA:CPU computes a convolution's weight gradient (its backward-filter convolution) slowly:
measured on one core, 2–8× slower than GEMMs giving the same numbers, in every conv of the
three models. `conv2d` keeps XLA's forward and input gradient and lets the weight
gradient be chosen:

- `xla`: autodiff through XLA's convolution.
- `gemm` (custom VJP): a scan over the batch; per utterance, dW[k] = X_kᵀ · G, with G the
  output gradient [H'·W', C_out] and X_k the input rows that meet kernel tap k. With one
  input channel the taps are gathered into one im2col matrix [H'·W', kh·kw] and one GEMM
  gives every tap; with several, each tap is one GEMM over a shifted view [H'·W', C_in]
  (no 9× im2col copy). Per-utterance sums, then the sum over the batch: shorter float32
  sums than one flat contraction.
- `auto`: `gemm` on CPU, `xla` elsewhere (GPU convolutions are cuDNN's, and a GEMM there
  would run at TF32 by default).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import linen as nn
from jax import lax

WEIGHT_GRADS = ("auto", "xla", "gemm")
PADDINGS = ("VALID", "SAME")
_DIMS = ("NHWC", "HWIO", "NHWC")


def _xla_conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
    return lax.conv_general_dilated(x, kernel, (1, 1), "VALID", dimension_numbers=_DIMS)


def _weight_grad(x: jax.Array, g: jax.Array, kernel_shape: tuple) -> jax.Array:
    """dW [kh, kw, C_in, C_out] of the VALID conv x [B, H, W, C_in] → g [B, H', W', C_out]."""
    kh, kw, cin, cout = kernel_shape
    h, w = g.shape[1:3]

    def gemm(a, b):  # aᵀ · b, accumulated in float32 whatever the compute dtype
        return jnp.dot(a.T, b, precision=lax.Precision.HIGHEST, preferred_element_type=jnp.float32)

    def one_utterance(total, xg):
        xu, gu = xg
        gm = gu.reshape(h * w, cout)
        if cin == 1:
            patches = lax.conv_general_dilated_patches(xu[None], (kh, kw), (1, 1), "VALID",
                                                       dimension_numbers=_DIMS)[0]
            taps = gemm(patches.reshape(h * w, kh * kw), gm)[:, None]
        else:
            taps = jnp.stack([gemm(xu[i:i + h, j:j + w].reshape(h * w, cin), gm)
                              for i in range(kh) for j in range(kw)])
        return total + taps, None

    total, _ = lax.scan(one_utterance, jnp.zeros((kh * kw, cin, cout), jnp.float32), (x, g))
    return total.reshape(kernel_shape)


@jax.custom_vjp
def _conv_gemm_grad(x: jax.Array, kernel: jax.Array) -> jax.Array:
    return _xla_conv(x, kernel)


def _forward(x, kernel):
    return _xla_conv(x, kernel), (x, kernel)


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
    def __call__(self, x):
        kh, kw = self.kernel_size
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (kh, kw, x.shape[-1], self.features),
                            jnp.float32)
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,), jnp.float32)
        y = conv2d(x.astype(self.dtype), kernel.astype(self.dtype), padding=self.padding,
                   weight_grad=self.weight_grad)
        return y + bias.astype(self.dtype)
