"""The convolution with a chosen weight gradient: same values and gradients as autodiff
through XLA's convolution."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ser_jax import conv
from ser_jax.encoders.conv_gru import ConvGRU
from ser_jax.encoders.parallel_cnn import ParallelCNN
from ser_jax.encoders.satt import Satt
from ser_jax.method import Method
from ser_jax.signals.pairwise import Pairwise
from ser_jax.signals.softmax import Softmax


def _reference_weight_grad(x, kernel, target, padding):
    """dW of sum((relu(conv(x, k)) - target)²) in float64 numpy."""
    x = np.asarray(x, np.float64)
    kh, kw = kernel.shape[:2]
    if padding == "SAME":
        x = np.pad(x, [(0, 0), ((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2), (0, 0)])
    patches = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))  # b h w ci i j
    y = np.einsum("bhwcij,ijco->bhwo", patches, np.asarray(kernel, np.float64))
    g = 2 * (np.maximum(y, 0) - np.asarray(target, np.float64)) * (y > 0)
    return np.einsum("bhwcij,bhwo->ijco", patches, g)


@pytest.mark.parametrize("kernel,cin,cout,padding", [((4, 6), 1, 5, "VALID"), ((10, 12), 1, 5, "VALID"),
                                                     ((3, 3), 3, 4, "SAME"), ((2, 4), 2, 3, "SAME"),
                                                     ((3, 3), 1, 4, "SAME")])
def test_gemm_weight_gradient_equals_autodiff(kernel, cin, cout, padding):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(3, 30, 24, cin)).astype(np.float32))
    k = jnp.asarray(rng.normal(size=(*kernel, cin, cout)).astype(np.float32))
    out_shape = conv.conv2d(x, k, padding=padding, weight_grad="xla").shape
    target = jnp.asarray(rng.normal(size=out_shape).astype(np.float32))

    def loss(x, k, impl):
        return jnp.sum((jax.nn.relu(conv.conv2d(x, k, padding=padding, weight_grad=impl)) - target) ** 2)

    (dx_xla, dk_xla) = jax.grad(loss, argnums=(0, 1))(x, k, "xla")
    (dx_gemm, dk_gemm) = jax.grad(loss, argnums=(0, 1))(x, k, "gemm")
    # the same forward values (bitwise where both are XLA's convolution; one input channel and
    # a small kernel are shifted multiply-adds in the gemm formulation: float32 rounding)
    np.testing.assert_allclose(conv.conv2d(x, k, padding=padding, weight_grad="gemm"),
                               conv.conv2d(x, k, padding=padding, weight_grad="xla"), rtol=1e-6, atol=1e-5)
    lax_padding = "SAME" if padding == "SAME" else "VALID"
    np.testing.assert_allclose(conv.conv2d(x, k, padding=padding), jax.lax.conv_general_dilated(
        x, k, (1, 1), lax_padding, dimension_numbers=("NHWC", "HWIO", "NHWC")), rtol=1e-6, atol=1e-5)
    # XLA's own input gradient, of a loss whose forward values may differ in float32 rounding
    np.testing.assert_allclose(dx_gemm, dx_xla, rtol=1e-5, atol=1e-5)
    # The weight gradient against a float64 reference: within float32 rounding of the sum
    # (1e-6 of its scale), as autodiff's is.
    reference = _reference_weight_grad(x, k, target, padding)
    scale = np.abs(reference).max()
    err_gemm, err_xla = np.abs(dk_gemm - reference).max(), np.abs(dk_xla - reference).max()
    assert err_gemm < 1e-6 * scale and err_xla < 1e-6 * scale, (err_gemm, err_xla, scale)


def test_conv_module_matches_flax_conv():
    x = jnp.asarray(np.random.default_rng(2).normal(size=(2, 9, 7, 3)).astype(np.float32))
    ours, flax_conv = conv.Conv(5, (3, 3), padding="SAME"), nn.Conv(5, (3, 3), padding="SAME")
    v_ours = ours.init(jax.random.PRNGKey(4), x)
    v_flax = flax_conv.init(jax.random.PRNGKey(4), x)
    jax.tree_util.tree_map(np.testing.assert_array_equal, v_ours, v_flax)  # same names, shapes, init
    v_flax = jax.tree_util.tree_map(lambda p: p + 0.1, v_flax)  # a non-zero bias too
    np.testing.assert_allclose(ours.apply(v_flax, x), flax_conv.apply(v_flax, x), rtol=1e-6, atol=1e-6)


def _grads(network, variables, x, lengths, pairs):
    def loss(params):
        out = network.apply({**variables, "params": params}, x, lengths, train=False, pairs=pairs)
        return jnp.sum(out["pair_logits" if pairs else "logits"] ** 2)
    return jax.grad(loss)(variables["params"])


@pytest.mark.parametrize("name", ["parallel_cnn", "conv_gru", "satt"])
def test_model_gradients_do_not_depend_on_the_formulation(name):
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.uniform(size=(4, 40, 32)).astype(np.float32))
    lengths = jnp.array([40, 31, 20, 9]) if name == "conv_gru" else jnp.full((4,), 40)
    grads = {}
    for impl in ("xla", "gemm"):
        if name == "parallel_cnn":
            method = Method(ParallelCNN(channels=6, dropout=0.0, conv_weight_grad=impl), (Softmax(),))
        elif name == "conv_gru":
            method = Method(ConvGRU(conv_channels=(4, 6), gru_units=8, z_dim=8, dropout=0.0, conv_weight_grad=impl),
                            (Softmax(),))
        else:  # the pairwise task: two utterances of each pair in one batch
            method = Method(Satt(conv_channels=(4, 6), embed_dim=8, conv_weight_grad=impl), (Pairwise(hidden=8),))
        network = method.network(3)
        variables = network.init(jax.random.PRNGKey(0), x, lengths, train=False, pairs=method.pairs)
        grads[impl] = _grads(network, variables, x, lengths, method.pairs)
    for a, b in zip(jax.tree_util.tree_leaves(grads["xla"]), jax.tree_util.tree_leaves(grads["gemm"])):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_resolve():
    assert conv.resolve("auto") == ("gemm" if jax.default_backend() == "cpu" else "xla")
    with pytest.raises(ValueError):
        conv.resolve("fast")
    with pytest.raises(ValueError):
        conv.conv2d(jnp.zeros((1, 4, 4, 2)), jnp.zeros((3, 3, 1, 2)))
