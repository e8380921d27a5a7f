"""The custom-gradient convolution: same values and gradients as autodiff through XLA's conv."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ser_jax import conv, models


@pytest.mark.parametrize("kernel", [(4, 6), (10, 12)])
def test_im2col_weight_gradient_equals_autodiff(kernel):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(3, 30, 24, 1)).astype(np.float32))
    k = jnp.asarray(rng.normal(size=(*kernel, 1, 5)).astype(np.float32))
    target = jnp.asarray(rng.normal(size=(3, 31 - kernel[0], 25 - kernel[1], 5)).astype(np.float32))

    def loss(x, k, impl):
        return jnp.sum((jax.nn.relu(conv.conv_valid(x, k, weight_grad=impl)) - target) ** 2)

    (dx_xla, dk_xla) = jax.grad(loss, argnums=(0, 1))(x, k, "xla")
    (dx_im, dk_im) = jax.grad(loss, argnums=(0, 1))(x, k, "im2col")
    np.testing.assert_allclose(conv.conv_valid(x, k, weight_grad="im2col"), conv.conv_valid(x, k, weight_grad="xla"))
    np.testing.assert_allclose(dx_im, dx_xla, rtol=1e-6, atol=1e-6)  # XLA's own input gradient
    # The weight gradient against a float64 reference: within float32 rounding of the sum
    # (1e-6 of its scale), as autodiff's is.
    patches = np.lib.stride_tricks.sliding_window_view(np.asarray(x, np.float64)[..., 0], kernel, axis=(1, 2))
    y = np.einsum("bhwij,ijc->bhwc", patches, np.asarray(k, np.float64)[:, :, 0])
    g = 2 * (np.maximum(y, 0) - np.asarray(target, np.float64)) * (y > 0)
    reference = np.einsum("bhwij,bhwc->ijc", patches, g)[:, :, None]
    scale = np.abs(reference).max()
    err_im, err_xla = np.abs(dk_im - reference).max(), np.abs(dk_xla - reference).max()
    assert err_im < 1e-6 * scale and err_xla < 1e-6 * scale, (err_im, err_xla, scale)


def test_parallel_cnn_gradients_do_not_depend_on_the_formulation():
    x = jnp.asarray(np.random.default_rng(1).uniform(size=(4, 40, 32)).astype(np.float32))
    grads = {}
    for impl in ("xla", "im2col"):
        model = models.ParallelCNN(num_classes=3, channels=6, dropout=0.0, conv_weight_grad=impl)
        variables = model.init(jax.random.PRNGKey(0), x, train=False)
        grads[impl] = jax.grad(lambda p: jnp.sum(model.apply({**variables, "params": p}, x, train=False)[0] ** 2))(
            variables["params"])
    for a, b in zip(jax.tree_util.tree_leaves(grads["xla"]), jax.tree_util.tree_leaves(grads["im2col"])):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_resolve():
    assert conv.resolve("auto") == ("im2col" if jax.default_backend() == "cpu" else "xla")
    with pytest.raises(ValueError):
        conv.resolve("fast")
