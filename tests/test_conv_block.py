"""The fused first block (ser_jax.conv_block): values and gradients of the layer-by-layer
block (conv, flax's BatchNorm with batch statistics, ReLU, layers.max_pool), against float64;
ties; the encoders' variables, running statistics and outputs in both forms."""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ser_jax import conv, conv_block, layers
from ser_jax.encoders.conv_gru import ConvGRU
from ser_jax.encoders.satt import Satt
from ser_jax.method import Method
from ser_jax.signals.softmax import Softmax


def _layered(x, kernel, bias, scale, beta):
    """The block layer by layer, with flax's own BatchNorm (training mode)."""
    y = conv.conv2d(x, kernel, padding="SAME", weight_grad="xla") + bias
    bn = nn.BatchNorm(use_running_average=False, momentum=0.0)  # running statistics := the batch's
    variables = {"params": {"scale": scale, "bias": beta},
                 "batch_stats": {"mean": jnp.zeros_like(scale), "var": jnp.ones_like(scale)}}
    u, state = bn.apply(variables, y, mutable=["batch_stats"])
    return layers.max_pool(nn.relu(u), (2, 2)), state["batch_stats"]["mean"], state["batch_stats"]["var"]


def _inputs(shape, channels, seed, kernel_size=(3, 3)):
    ks = jax.random.split(jax.random.PRNGKey(seed), 9)
    b, h, w = shape
    x = jax.random.normal(ks[0], (b, h, w, 1)).at[0, h - 3:].set(0.0)  # padding frames: zeros, as ConvGRU masks
    kernel = 0.5 * jax.random.normal(ks[1], (*kernel_size, 1, channels))
    bias, scale = jax.random.normal(ks[2], (channels,)), jax.random.normal(ks[3], (channels,))  # γ < 0 too
    beta = 0.3 * jax.random.normal(ks[4], (channels,))
    weights = [jax.random.normal(k, s) for k, s in zip(ks[5:], [(b, h // 2, w // 2, channels), (channels,),
                                                                  (channels,)])]
    return (x, kernel, bias, scale, beta), weights


def _loss(block, weights):
    def loss(*args):  # every output reaches the loss: pooled values, batch mean, batch variance
        return sum(jnp.sum(o * r) for o, r in zip(block(*args), weights))
    return loss


@pytest.mark.parametrize("shape,kernel_size", [((3, 10, 8), (3, 3)),
                                               ((2, 9, 11), (3, 3)),  # odd: a row and a column in no window
                                               ((2, 8, 10), (4, 2))])  # even kernel: SAME pads one more after
def test_fused_block_equals_the_layered_block_within_float32_rounding(shape, kernel_size):
    args, weights = _inputs(shape, 5, seed=shape[1], kernel_size=kernel_size)
    with jax.enable_x64():
        args64 = [np.asarray(a, np.float64) for a in args]
        reference = [np.asarray(v) for v in _layered(*map(jnp.asarray, args64))]
        reference_grads = [np.asarray(g) for g in jax.grad(_loss(_layered, weights), argnums=range(5))(
            *map(jnp.asarray, args64))]
    fused = conv_block.conv_bn_relu_pool(*args)
    fused_grads = jax.grad(_loss(conv_block.conv_bn_relu_pool, weights), argnums=range(5))(*args)
    layered_grads = jax.grad(_loss(_layered, weights), argnums=range(5))(*args)
    assert fused[0].shape == (shape[0], shape[1] // 2, shape[2] // 2, 5)
    for ours, ref in zip(fused, reference):
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)
    for name, ours, layered, ref in zip(["x", "kernel", "bias", "scale", "beta"], fused_grads, layered_grads,
                                        reference_grads):
        err, err_layered = np.abs(np.asarray(ours) - ref).max(), np.abs(np.asarray(layered) - ref).max()
        # as close to float64 as the layer-by-layer float32 block is (a few ulps of the largest term)
        assert err <= max(5 * err_layered, 1e-5 * np.abs(ref).max()), (name, err, err_layered)


def test_ties_in_a_window_each_get_the_gradient_as_in_max_pool():
    # a constant input: every output of a window ties; ReLU keeps the positive channels only
    x = jnp.ones((2, 4, 4, 1)).at[1].set(2.0)
    kernel = jnp.ones((3, 3, 1, 2)).at[1, 1, 0, 1].set(3.0)
    bias, scale, beta = jnp.zeros(2), jnp.array([1.0, -1.0]), jnp.array([0.5, 0.5])
    g_pool = jax.random.normal(jax.random.PRNGKey(3), (2, 2, 2, 2))
    for block in (_layered, conv_block.conv_bn_relu_pool):
        pooled = block(x, kernel, bias, scale, beta)[0]
        grads = jax.grad(lambda k, s, b: jnp.sum(block(x, k, bias, s, b)[0] * g_pool), argnums=(0, 1, 2))(
            kernel, scale, beta)
        if block is _layered:
            expected_pooled, expected = pooled, grads
    np.testing.assert_allclose(pooled, expected_pooled, rtol=1e-6, atol=1e-6)
    for ours, ref in zip(grads, expected):
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)
    assert np.abs(np.asarray(expected[2])).sum() > 0  # the ties did carry a gradient


@pytest.mark.parametrize("encoder", [
    ConvGRU(conv_channels=(4, 6), gru_units=8, z_dim=8, dropout=0.0),
    Satt(conv_channels=(4, 6), embed_dim=8),
])
def test_encoders_have_the_same_variables_and_training_outputs_in_both_forms(encoder):
    x = jax.random.uniform(jax.random.PRNGKey(1), (4, 40, 32))
    lengths = jnp.array([40, 31, 20, 9])
    forms = {}
    for weight_grad in ("pooled", "gemm"):  # pooled: the fused first block in training
        network = Method(dataclasses.replace(encoder, conv_weight_grad=weight_grad), (Softmax(),)).network(3)
        variables = network.init(jax.random.PRNGKey(0), x, lengths, train=False)
        out, state = network.apply(variables, x, lengths, train=True, mutable=["batch_stats"],
                                   rngs={"dropout": jax.random.PRNGKey(2)})
        forms[weight_grad] = variables, out["logits"], state["batch_stats"]
    (v_fused, out_fused, s_fused), (v_layered, out_layered, s_layered) = forms["pooled"], forms["gemm"]
    # same names, shapes and initial values: checkpoints of either form load in the other
    jax.tree_util.tree_map(np.testing.assert_array_equal, v_fused, v_layered)
    np.testing.assert_allclose(out_fused, out_layered, rtol=1e-4, atol=1e-5)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), s_fused, s_layered)
    first_mean = [leaf for path, leaf in jax.tree_util.tree_flatten_with_path(s_fused)[0]
                  if "BatchNorm_0" in jax.tree_util.keystr(path) and path[-1].key == "mean"]
    assert len(first_mean) == 1 and np.abs(first_mean[0]).max() > 0  # the fused block's running mean moved


def test_applies_only_where_it_is_exact():
    assert conv_block.applies("pooled", (2, 8, 8, 1), jnp.float32, train=True)
    assert not conv_block.applies("pooled", (2, 8, 8, 1), jnp.float32, train=False)  # eval: running statistics
    assert not conv_block.applies("pooled", (2, 8, 8, 1), jnp.bfloat16, train=True)
    assert not conv_block.applies("pooled", (2, 8, 8, 4), jnp.float32, train=True)  # not a first block
    assert not conv_block.applies("gemm", (2, 8, 8, 1), jnp.float32, train=True)
    with pytest.raises(ValueError, match="one input channel"):
        conv_block.conv_bn_relu_pool(jnp.zeros((1, 4, 4, 2)), jnp.zeros((3, 3, 2, 3)), *[jnp.zeros(3)] * 3)
