"""The convolution with a chosen weight gradient: same values and gradients as autodiff
through XLA's convolution."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ser_jax import conv, layers
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


def _grads(network, variables, x, lengths, pairs, train=False):
    def loss(params):
        out, _ = network.apply({**variables, "params": params}, x, lengths, train=train, pairs=pairs,
                               rngs={"dropout": jax.random.PRNGKey(5)}, mutable=["batch_stats"])
        return jnp.sum(out["pair_logits" if pairs else "logits"] ** 2)
    return jax.grad(loss)(variables["params"])


@pytest.mark.parametrize("train", [False, True])  # training: BatchNorm's batch statistics, the fused first block
@pytest.mark.parametrize("name", ["parallel_cnn", "conv_gru", "satt"])
def test_model_gradients_do_not_depend_on_the_formulation(name, train):
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.uniform(size=(4, 40, 32)).astype(np.float32))
    lengths = jnp.array([40, 31, 20, 9]) if name == "conv_gru" else jnp.full((4,), 40)
    grads = {}
    for impl in ("xla", "gemm", "pooled"):
        if name == "parallel_cnn":
            method = Method(ParallelCNN(channels=6, dropout=0.0, conv_weight_grad=impl), (Softmax(),))
        elif name == "conv_gru":
            method = Method(ConvGRU(conv_channels=(4, 6), gru_units=8, z_dim=8, dropout=0.0, conv_weight_grad=impl),
                            (Softmax(),))
        else:  # the pairwise task: two utterances of each pair in one batch
            method = Method(Satt(conv_channels=(4, 6), embed_dim=8, conv_weight_grad=impl), (Pairwise(hidden=8),))
        network = method.network(3)
        variables = network.init(jax.random.PRNGKey(0), x, lengths, train=False, pairs=method.pairs)
        grads[impl] = _grads(network, variables, x, lengths, method.pairs, train)
    for impl in grads:
        for a, b in zip(jax.tree_util.tree_leaves(grads["xla"]), jax.tree_util.tree_leaves(grads[impl])):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_resolve():
    cpu = jax.default_backend() == "cpu"
    assert conv.resolve("auto") == ("gemm" if cpu else "xla")
    assert conv.resolve("auto", pooled=True) == ("pooled" if cpu else "xla")
    assert conv.resolve("gemm", pooled=True) == "gemm"
    with pytest.raises(ValueError, match="only to convolutions max-pooled"):
        conv.resolve("pooled")
    with pytest.raises(ValueError):
        conv.resolve("fast")
    with pytest.raises(ValueError):
        conv.conv2d(jnp.zeros((1, 4, 4, 2)), jnp.zeros((3, 3, 1, 2)))


def _two_step(x, k, lengths, impl):
    return layers.valid_half_max_pool(conv.conv2d(x, k, weight_grad=impl), lengths)


@pytest.mark.parametrize("kernel,cin,lengths", [((4, 6), 1, (27, 13, 1)), ((10, 12), 1, (21, 2, 8)),
                                                ((3, 2), 2, (28, 5, 17))])
def test_pooled_conv_equals_the_two_step_path(kernel, cin, lengths):
    """Convolution and quadrant pooling as one operation (`pooled`): the same values as
    pooling XLA's convolution, and, where every quadrant's maximum is unique (random
    inputs), the same gradients for input and kernel; one valid row (both time halves) and
    an odd output width included."""
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.normal(size=(3, 30, 24, cin)).astype(np.float32))
    k = jnp.asarray(rng.normal(size=(*kernel, cin, 5)).astype(np.float32))
    lengths = jnp.asarray(lengths)
    weights = jnp.asarray(rng.normal(size=(3, 2, 2, 5)).astype(np.float32))
    np.testing.assert_array_equal(conv.conv_half_max_pool(x, k, lengths, weight_grad="pooled"),
                                  _two_step(x, k, lengths, "xla"))

    def loss(fn):
        return lambda x, k: jnp.sum(weights * jnp.sin(fn(x, k)))

    pooled = jax.grad(loss(lambda x, k: conv.conv_half_max_pool(x, k, lengths, weight_grad="pooled")), (0, 1))(x, k)
    expected = jax.grad(loss(lambda x, k: _two_step(x, k, lengths, "xla")), (0, 1))(x, k)
    for got, want in zip(pooled, expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert np.count_nonzero(pooled[0]) > 0
    # the gradient reaches no padding row (those beyond each example's valid conv rows + kernel)
    beyond = np.arange(30)[None, :] >= np.asarray(lengths)[:, None] + kernel[0] - 1
    assert not np.any(np.asarray(pooled[0])[..., 0][beyond])


def test_pooled_conv_gives_a_tie_to_its_first_position():
    """Rows that repeat make each quadrant's maximum tie over its rows. By hand: x [1, 5, 6]
    with every row [0, 1, 3, 2, 5, 4], kernel 2 × 2 of ones → every conv row is
    [2, 8, 10, 14, 18] (4 rows × 5 columns); lengths 4: time halves rows {0, 1} and {2, 3},
    column halves {0, 1} and {2, 3} (column 4 dropped). Maxima: column 1 (8) and column 3
    (14), tied over the two rows of each half. The gradient goes to the first row of each
    half: dW = g00·patch(0, 1) + g01·patch(0, 3) + g10·patch(2, 1) + g11·patch(2, 3), a
    patch at column c being [[x_c, x_c+1], [x_c, x_c+1]]. The two-step path gives each of the
    two tied rows the full gradient: twice these numbers."""
    row = np.array([0, 1, 3, 2, 5, 4], np.float32)
    x = jnp.asarray(np.tile(row, (1, 5, 1))[..., None])
    k = jnp.ones((2, 2, 1, 1), jnp.float32)
    lengths = jnp.asarray([4])
    g = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)  # g[time half, column half]
    pooled = conv.conv_half_max_pool(x, k, lengths, weight_grad="pooled")
    np.testing.assert_array_equal(pooled[0, :, :, 0], [[8, 14], [8, 14]])

    def loss(impl):
        return lambda x, k: jnp.sum(g[None, :, :, None] * conv.conv_half_max_pool(x, k, lengths, weight_grad=impl))

    dx, dk = jax.grad(loss("pooled"), (0, 1))(x, k)
    patch = lambda c: np.array([[row[c], row[c + 1]], [row[c], row[c + 1]]])  # noqa: E731
    expected_dk = (1 * patch(1) + 2 * patch(3) + 3 * patch(1) + 4 * patch(3))  # = 4·[[1, 3], [1, 3]] + 6·[[2, 5], [2, 5]]
    np.testing.assert_array_equal(expected_dk, [[16, 42], [16, 42]])
    np.testing.assert_array_equal(dk[..., 0, 0], expected_dk)
    expected_dx = np.zeros((5, 6), np.float32)  # g spread over the 2 × 2 window at each first position
    for (r, c), gv in {(0, 1): 1, (0, 3): 2, (2, 1): 3, (2, 3): 4}.items():
        expected_dx[r:r + 2, c:c + 2] += gv
    np.testing.assert_array_equal(dx[0, :, :, 0], expected_dx)
    _, dk_two_step = jax.grad(loss("gemm"), (0, 1))(x, k)
    np.testing.assert_array_equal(dk_two_step[..., 0, 0], 2 * expected_dk)


def test_pooled_is_refused_where_no_convolution_is_pooled_whole():
    from configs import dai, egemaps_svm

    from ser_jax import method
    from ser_jax.errors import SerJaxError

    config = egemaps_svm.get_config()  # no convolution at all
    config.model.conv_weight_grad = "pooled"
    with pytest.raises(SerJaxError, match="conv_weight_grad"):
        method.from_config(config)
    config = dai.get_config()  # its first block is pooled whole (ser_jax.conv_block)
    config.model.conv_weight_grad = "pooled"
    assert method.from_config(config).encoder.conv_weight_grad == "pooled"
