"""Bidirectional GRU over padded sequences, both directions in one scan.

The math is flax's `nn.GRUCell` (r, z, n gates; `hn` carries the recurrent bias) and the
lengths are handled as `nn.RNN(..., seq_lengths=...)` does: the forward state stops at
the last true frame, the backward one starts there. What differs is where the work is:

- The input projections of every frame (most of a GRU's FLOPs: the CNN + BiGRU feeds it
  2,048-d frames against 128-d states) are one GEMM over the whole batch of sequences,
  outside the recurrence, and so are their weight gradients. Inside `nn.RNN` they are
  one small GEMM per frame, forwards and backwards.
- The two directions advance together: one scan of T steps with a [2, B, H] state, not
  two scans.
- The backward pass (a custom VJP) computes the recurrent kernel's gradient as one GEMM
  over all steps after its reverse scan, where autodiff adds one small GEMM per step into
  it inside the loop.
- On GPU, 25 steps run per loop iteration (`resolve_unroll`).

The parameters keep `nn.RNN(nn.GRUCell)`'s tree (`GRUCell_0/ir/kernel` ...) and its
initializers, so models trained with the flax modules load unchanged.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn
from jax import lax

_INPUT_GATES = ("ir", "iz", "in")
_STATE_GATES = ("hr", "hz", "hn")


class _Weights(nn.Module):
    """One kernel (and bias) under the name flax's Dense would give it."""

    shape: tuple
    use_bias: bool
    kernel_init: nn.initializers.Initializer

    @nn.compact
    def __call__(self):
        kernel = self.param("kernel", self.kernel_init, self.shape)
        bias = self.param("bias", nn.initializers.zeros_init(), self.shape[-1:]) if self.use_bias else None
        return kernel, bias


class _Cell(nn.Module):
    """The six weight matrices of a GRUCell, concatenated as [in, 3H] and [H, 3H]."""

    features: int

    @nn.compact
    def __call__(self, in_features: int):
        h = self.features
        made = {}
        for name in ("ir", "hr", "iz", "hz", "in", "hn"):  # GRUCell's creation order
            is_input = name.startswith("i")
            made[name] = _Weights((in_features, h) if is_input else (h, h),
                                  use_bias=is_input or name == "hn",
                                  kernel_init=nn.initializers.lecun_normal() if is_input
                                  else nn.initializers.orthogonal(), name=name)()
        w_in = jnp.concatenate([made[n][0] for n in _INPUT_GATES], axis=1)
        b_in = jnp.concatenate([made[n][1] for n in _INPUT_GATES])
        w_state = jnp.concatenate([made[n][0] for n in _STATE_GATES], axis=1)
        return w_in, b_in, w_state, made["hn"][1]


def resolve_unroll(unroll: int, steps: int) -> int:
    """Steps per loop iteration of the recurrence: `unroll`, or for 0 the backend's choice.

    On GPU each iteration of XLA's while loop costs more than a step's small GEMMs, so 25
    steps go in one iteration there: on an H100 the CNN + BiGRU training step (75 GRU steps)
    took 4.9 ms with 1, 3.9 with 5, 3.6 with 25 and 3.8 with all 75, which doubled the
    compile time (benchmarks/train_step.py --gru_unroll). XLA:CPU loses little per iteration.
    """
    if unroll < 0:
        raise ValueError(f"GRU unroll must be ≥ 0 (0 = the backend's choice), got {unroll}")
    if unroll == 0:
        unroll = 1 if jax.default_backend() == "cpu" else 25
    return max(1, min(unroll, steps))


def bidirectional(seq: jax.Array, lengths: jax.Array, features: int, dtype=jnp.float32, unroll: int = 0):
    """Last forward and last backward state of a BiGRU, each [B, features].

    Call inside a compact module: the parameters go under that module's `GRUCell_0`
    (forward) and `GRUCell_1` (backward), where `nn.RNN(nn.GRUCell(...))` puts them.

    Args:
      seq: [B, T, D] frames; those at t ≥ lengths[b] are ignored.
      lengths: [B] true lengths (≥ 1).
      features: units per direction.
      dtype: the GEMMs' dtype. The gates and the state are float32 whatever it is, so a
        bfloat16 run does not round the state at each of the T steps.
      unroll: steps per loop iteration (0: `resolve_unroll`'s choice for the backend). The
        result is the same for every value.
    """
    b, t, d = seq.shape
    h = features
    cells = [_Cell(features, name=f"GRUCell_{k}")(d) for k in (0, 1)]
    w_in, b_in, w_state, b_hn = (jnp.stack(p) for p in zip(*cells))
    w_in, b_in, w_state = w_in.astype(dtype), b_in.astype(dtype), w_state.astype(dtype)
    b_hn = b_hn[:, None, :].astype(jnp.float32)  # added to the float32 gates
    x = seq.astype(dtype)
    gates_in = jnp.einsum("btd,kdg->ktbg", x, w_in, preferred_element_type=jnp.float32).astype(dtype)
    gates_in = gates_in + b_in[:, None, None, :]  # [2, T, B, 3H]
    gates_in = jnp.stack([gates_in[0], gates_in[1, ::-1]], axis=1)  # [T, 2, B, 3H]: step s, direction
    steps = jnp.arange(t)
    times = jnp.stack([steps, t - 1 - steps], axis=1)  # [T, 2]: frame each direction reads
    live = times[:, :, None] < lengths.astype(jnp.int32)[None, None, :]  # [T, 2, B]

    state = _recurrence(gates_in, live, w_state, b_hn, jnp.dtype(dtype), resolve_unroll(unroll, t))
    return state[0], state[1]


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5))
def _recurrence(gates_in, live, w_state, b_hn, dtype, unroll):
    """The final [2, B, H] state of both directions' GRU recurrence.

    Args:
      gates_in: [T, 2, B, 3H] input projections (r, z, n), in `dtype`.
      live: [T, 2, B] whether step t is a true frame (else the state is carried).
      w_state: [2, H, 3H] recurrent kernels, in `dtype`.
      b_hn: [2, 1, H] float32 recurrent bias of the n gate.
    """
    return _scan_forward(gates_in, live, w_state, b_hn, dtype, unroll)[0]


def _scan_forward(gates_in, live, w_state, b_hn, dtype, unroll):
    h = w_state.shape[1]

    def step(state, inputs):
        gi, alive = inputs
        gi = gi.astype(jnp.float32)
        gh = jnp.einsum("kbh,khg->kbg", state.astype(dtype), w_state).astype(jnp.float32)
        r = nn.sigmoid(gi[..., :h] + gh[..., :h])
        z = nn.sigmoid(gi[..., h:2 * h] + gh[..., h:2 * h])
        ghn = gh[..., 2 * h:] + b_hn
        n = jnp.tanh(gi[..., 2 * h:] + r * ghn)
        new = (1.0 - z) * n + z * state
        return jnp.where(alive[..., None], new, state), (state, r, z, n, ghn)

    b = gates_in.shape[2]
    return lax.scan(step, jnp.zeros((2, b, h), jnp.float32), (gates_in, live), unroll=unroll)


def _recurrence_fwd(gates_in, live, w_state, b_hn, dtype, unroll):
    final, saved = _scan_forward(gates_in, live, w_state, b_hn, dtype, unroll)
    return final, (saved, live, w_state)


def _recurrence_bwd(dtype, unroll, residuals, d_final):
    """Reverse scan for the gates' gradients; the recurrent kernel's gradient after it, as
    one GEMM over all T steps (autodiff would add a small GEMM's worth into it per step)."""
    (prev, r, z, n, ghn), live, w_state = residuals
    w_t = jnp.swapaxes(w_state, 1, 2)  # [2, 3H, H]

    def step(d_state, inputs):
        prev, r, z, n, ghn, alive = inputs
        alive = alive[..., None]
        d_new = jnp.where(alive, d_state, 0.0)
        dn_pre = d_new * (1.0 - z) * (1.0 - n * n)
        dz_pre = d_new * (prev - n) * z * (1.0 - z)
        dr_pre = dn_pre * ghn * r * (1.0 - r)
        d_gh = jnp.concatenate([dr_pre, dz_pre, dn_pre * r], axis=-1)
        d_prev = jnp.where(alive, d_state * z, d_state)
        d_prev = d_prev + jnp.einsum("kbg,kgh->kbh", d_gh.astype(dtype), w_t).astype(jnp.float32)
        d_gi = jnp.concatenate([dr_pre, dz_pre, dn_pre], axis=-1)
        return d_prev, (d_gi.astype(dtype), d_gh)

    _, (d_gates_in, d_gh) = lax.scan(step, d_final, (prev, r, z, n, ghn, live), reverse=True, unroll=unroll)
    h = w_state.shape[1]
    d_w_state = jnp.einsum("tkbh,tkbg->khg", prev.astype(dtype), d_gh.astype(dtype),
                           preferred_element_type=jnp.float32).astype(w_state.dtype)
    d_b_hn = jnp.sum(d_gh[..., 2 * h:], axis=(0, 2))[:, None, :]
    return d_gates_in, np.zeros(live.shape, jax.dtypes.float0), d_w_state, d_b_hn


_recurrence.defvjp(_recurrence_fwd, _recurrence_bwd)
