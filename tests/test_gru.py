"""ser_jax.gru's BiGRU against flax's nn.RNN(nn.GRUCell): parameters, outputs, gradients."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from ser_jax import gru

UNITS = 16


class FlaxBiGRU(nn.Module):
    """The reference: flax's own cells and RNN, as ConvGRU used them before ser_jax.gru."""

    @nn.compact
    def __call__(self, seq, lengths):
        forward = nn.RNN(nn.GRUCell(UNITS), return_carry=True)
        backward = nn.RNN(nn.GRUCell(UNITS), return_carry=True, reverse=True, keep_order=True)
        return forward(seq, seq_lengths=lengths)[0], backward(seq, seq_lengths=lengths)[0]


class SerJaxBiGRU(nn.Module):
    unroll: int = 0
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, seq, lengths):
        return gru.bidirectional(seq, lengths, UNITS, dtype=self.dtype, unroll=self.unroll)


def _inputs():
    rng = np.random.default_rng(0)
    seq = jnp.asarray(rng.normal(size=(5, 11, 12)), jnp.float32)
    return seq, jnp.asarray([11, 6, 1, 9, 2])  # full, partial and one-frame sequences


def test_same_parameter_tree_and_initial_values_as_flax():
    seq, lengths = _inputs()
    ours = SerJaxBiGRU().init(jax.random.key(7), seq, lengths)
    theirs = FlaxBiGRU().init(jax.random.key(7), seq, lengths)
    assert jax.tree.structure(ours) == jax.tree.structure(theirs)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs)):
        np.testing.assert_array_equal(a, b)


def test_states_and_gradients_equal_flax_with_padding():
    seq, lengths = _inputs()
    params = FlaxBiGRU().init(jax.random.key(1), seq, lengths)

    def loss(model):
        def f(p, x):
            fwd, bwd = model.apply(p, x, lengths)
            return jnp.sum(fwd ** 2) + jnp.sum(jnp.sin(bwd))
        return f

    for a, b in zip(SerJaxBiGRU().apply(params, seq, lengths), FlaxBiGRU().apply(params, seq, lengths)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    ours = jax.grad(loss(SerJaxBiGRU()), argnums=(0, 1))(params, seq)
    theirs = jax.grad(loss(FlaxBiGRU()), argnums=(0, 1))(params, seq)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # frames past a sequence's length get no gradient
    np.testing.assert_array_equal(ours[1][2, 1:], 0.0)


def test_backward_state_of_a_padded_sequence_equals_the_unpadded_one():
    seq, lengths = _inputs()
    params = SerJaxBiGRU().init(jax.random.key(2), seq, lengths)
    padded = SerJaxBiGRU().apply(params, seq, lengths)
    alone = SerJaxBiGRU().apply(params, seq[1:2, :6], lengths[1:2])
    for a, b in zip(padded, alone):
        np.testing.assert_allclose(a[1], b[0], rtol=1e-6, atol=1e-6)


def test_unrolled_recurrence_gives_the_same_states_and_gradients():
    """Unrolling (by a non-divisor of T, entirely) changes the program, not the result."""
    seq, lengths = _inputs()
    params = SerJaxBiGRU().init(jax.random.key(3), seq, lengths)

    def outputs(unroll):
        model = SerJaxBiGRU(unroll=unroll)
        grads = jax.grad(lambda p, x: sum(jnp.sum(jnp.tanh(s)) for s in model.apply(p, x, lengths)),
                         argnums=(0, 1))(params, seq)
        return model.apply(params, seq, lengths), grads

    reference = outputs(1)
    for unroll in (4, 11):
        for a, b in zip(jax.tree.leaves(outputs(unroll)), jax.tree.leaves(reference)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert gru.resolve_unroll(50, 11) == 11 and gru.resolve_unroll(4, 11) == 4
    assert gru.resolve_unroll(0, 11) == (1 if jax.default_backend() == "cpu" else 11)  # 25, at most T


def test_bfloat16_gradients_stay_close_to_flax_float32():
    """The custom VJP's bf16 path (bf16 GEMMs, float32 gates and state) against flax in float32."""
    seq, lengths = _inputs()
    params = FlaxBiGRU().init(jax.random.key(4), seq, lengths)

    def grads(model):
        return jax.grad(lambda p, x: sum(jnp.sum(jnp.tanh(s)) for s in model.apply(p, x, lengths)),
                        argnums=(0, 1))(params, seq)

    ours, theirs = grads(SerJaxBiGRU(dtype=jnp.bfloat16)), grads(FlaxBiGRU())
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs)):
        assert a.dtype == b.dtype == jnp.float32
        error = float(jnp.linalg.norm(a - b) / jnp.linalg.norm(b))
        assert 0.0 < error < 2e-2  # bf16 rounding (8 mantissa bits; 0.1–1 % seen), not a wrong gradient
