"""bfloat16 compute with float32 parameters and losses stays close to float32."""

import functools
import importlib

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
from ser_jax.errors import SerJaxError
from ser_jax.method import Method, from_config
from ser_jax.signals.center import Center
from ser_jax.signals.reconstruction import Reconstruction
from ser_jax.signals.softmax import Softmax


def _batch(frames, bins):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(8, frames, bins)).astype(np.float32)
    return {"x": x, "label": np.arange(8, dtype=np.int32) % 4, "length": np.full(8, frames, np.int32),
            "mask": np.ones(8, np.float32)}


@pytest.mark.parametrize("conv_dtype", [None, jnp.float32], ids=["bf16 convs", "float32 convs"])
@pytest.mark.parametrize("name", ["parallel_cnn", "conv_gru", "satt"])
def test_bf16_loss_within_tolerance_of_float32(name, conv_dtype):
    batch = _batch(64, 64) if name == "satt" else _batch(24, 16)  # 5 poolings need 2^5
    if name == "conv_gru":
        batch["length"] = np.array([24, 20, 17, 9, 24, 3, 12, 24], np.int32)  # padded sequences

    def make(dtype):
        common = {"dtype": dtype, "conv_dtype": conv_dtype if dtype == jnp.bfloat16 else None}
        signals = (Softmax(), Center(weight=0.5))
        if name == "parallel_cnn":
            encoder = ParallelCNN(channels=8, embed_dim=8, dropout=0.0, **common)
            signals += (Reconstruction(weight=1.0, hidden=8, decoder_dims=(16,)),)
        elif name == "conv_gru":
            encoder = ConvGRU(conv_channels=(4, 8), gru_units=8, z_dim=8, dropout=0.0, **common)
        else:
            encoder = Satt(conv_channels=(4, 4, 4, 4, 4), embed_dim=16, **common)
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


def _conv_operand_dtypes(config) -> set:
    """The operand dtypes of every convolution in a training forward and backward pass of
    `config`'s network."""
    network = from_config(config).network(4)
    batch, key = _batch(64, 64), jax.random.PRNGKey(0)
    variables = network.init({"params": key, "dropout": key}, batch["x"], batch["length"], train=False)

    def embedding_sum(params):
        out, _ = network.apply({**variables, "params": params}, batch["x"], batch["length"], train=True,
                               rngs={"dropout": key}, mutable=["batch_stats"])
        return out["embedding"].astype(jnp.float32).sum()

    jaxpr = jax.make_jaxpr(jax.grad(embedding_sum))(variables["params"])
    found = set()

    def visit(jaxpr):
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "conv_general_dilated":
                found.update(str(v.aval.dtype) for v in eqn.invars)
            for value in eqn.params.values():
                for sub in value if isinstance(value, (tuple, list)) else (value,):
                    if hasattr(sub, "eqns") or hasattr(sub, "jaxpr"):
                        visit(getattr(sub, "jaxpr", sub))

    visit(jaxpr.jaxpr)
    return found


@pytest.mark.parametrize("config_name", ["dai", "pdt", "s"])
def test_conv_dtype_auto_keeps_cpu_convolutions_float32(config_name):
    """With model.dtype=bfloat16, `auto` gives the CPU float32 convolutions (XLA:CPU has no faster
    bf16 one) and the rest bf16 (elsewhere bf16 throughout); `bfloat16` puts every convolution
    in bf16; an unknown value stops with the key's name."""
    config = importlib.import_module(f"configs.{config_name}").get_config()
    config.model.dtype = "bfloat16"
    auto = jnp.float32 if jax.default_backend() == "cpu" else jnp.bfloat16  # on GPU/TPU: model.dtype
    encoder = from_config(config).encoder
    assert encoder.conv_compute_dtype == auto and encoder.dtype == jnp.bfloat16
    assert _conv_operand_dtypes(config) == {jnp.dtype(auto).name}
    config.model.conv_dtype = "bfloat16"
    assert from_config(config).encoder.conv_compute_dtype == jnp.bfloat16
    assert _conv_operand_dtypes(config) == {"bfloat16"}
    config.model.conv_dtype = "half"
    with pytest.raises(SerJaxError, match="--config.model.conv_dtype: .*'half'"):
        from_config(config)


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
