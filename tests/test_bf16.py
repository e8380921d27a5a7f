"""bfloat16 compute with float32 parameters and losses stays close to float32."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ser_jax import layers, steps
from ser_jax.encoders.conv_gru import ConvGRU
from ser_jax.encoders.parallel_cnn import ParallelCNN
from ser_jax.encoders.satt import Satt
from ser_jax.method import Method
from ser_jax.signals.center import Center
from ser_jax.signals.reconstruction import Reconstruction
from ser_jax.signals.softmax import Softmax


def _batch(frames, bins):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(8, frames, bins)).astype(np.float32)
    return {"x": x, "label": np.arange(8, dtype=np.int32) % 4, "length": np.full(8, frames, np.int32),
            "mask": np.ones(8, np.float32)}


@pytest.mark.parametrize("name", ["parallel_cnn", "conv_gru", "satt"])
def test_bf16_loss_within_tolerance_of_float32(name):
    batch = _batch(64, 64) if name == "satt" else _batch(24, 16)  # 5 poolings need 2^5
    if name == "conv_gru":
        batch["length"] = np.array([24, 20, 17, 9, 24, 3, 12, 24], np.int32)  # padded sequences

    def make(dtype):
        signals = (Softmax(), Center(weight=0.5))
        if name == "parallel_cnn":
            encoder = ParallelCNN(channels=8, embed_dim=8, dropout=0.0, dtype=dtype)
            signals += (Reconstruction(weight=1.0, hidden=8, decoder_dims=(16,)),)
        elif name == "conv_gru":
            encoder = ConvGRU(conv_channels=(4, 8), gru_units=8, z_dim=8, dropout=0.0, dtype=dtype)
        else:
            encoder = Satt(conv_channels=(4, 4, 4, 4, 4), embed_dim=16, dtype=dtype)
        return Method(encoder, signals)

    key = jax.random.PRNGKey(0)
    method = make(jnp.float32)
    f32 = steps.create_train_state(method, 4, optax.sgd(0.1), key, batch)
    bf16 = f32.replace(apply_fn=make(jnp.bfloat16).network(4).apply)  # same float32 parameters
    losses = {}
    for label, state in (("f32", f32), ("bf16", bf16)):
        loss, (terms, _, out) = steps.loss_fn(state.params, state, batch, key, method=method)
        assert out["embedding"].dtype == jnp.float32 and loss.dtype == jnp.float32
        losses[label] = float(loss)
        new_state, _ = jax.jit(functools.partial(steps.train_step, method=method))(state, batch, key)
        assert all(p.dtype == jnp.float32 for p in jax.tree_util.tree_leaves(new_state.params))
    # stated tolerance: 2 % of the float32 loss (bf16 keeps 8 bits of mantissa, ~0.4 % per value)
    assert losses["bf16"] == pytest.approx(losses["f32"], rel=2e-2)
    assert losses["bf16"] != losses["f32"]  # the bf16 path really computed in bf16


def test_dense_sums_bf16_products_in_float32():
    """256 + 1 + 1 + 1 + 1: summed in bf16 each +1 rounds away (256 + 1 → 256, ties to even);
    summed in float32 it is 260, which bf16 holds exactly. layers.Dense keeps flax Dense's
    parameters (names, shapes) and returns the operands' dtype."""
    x = jnp.asarray([[256.0, 1.0, 1.0, 1.0, 1.0]], jnp.bfloat16)
    ours, flax_dense = layers.Dense(1, use_bias=False, dtype=jnp.bfloat16), nn.Dense(1, use_bias=False)
    params = ours.init(jax.random.PRNGKey(0), x)
    assert jax.tree_util.tree_structure(params) == jax.tree_util.tree_structure(flax_dense.init(jax.random.PRNGKey(0), x))
    params = jax.tree_util.tree_map(jnp.ones_like, params)
    # the product XLA is given returns float32 (flax's own Dense asks for bf16): what reaches the
    # CPU's bf16 matrix units (benchmarks/gemm.py)
    products = [line for line in jax.jit(ours.apply).lower(params, x).as_text().splitlines() if "dot_general" in line]
    assert products and all(line.rstrip().endswith("xf32>") for line in products)
    y = ours.apply(params, x)
    assert y.dtype == jnp.bfloat16
    assert float(y[0, 0]) == 260.0
    # the sum rounded to bf16 at each step would lose every +1
    assert float(functools.reduce(lambda s, v: (s + v).astype(jnp.bfloat16), x[0])) == 256.0
