"""Model shapes, the paper's parameter count, and padding-independence of the BiGRU."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ser_jax import models
from ser_jax.errors import SerJaxError

KEY = jax.random.PRNGKey(0)


def test_parallel_cnn_s_plus_c_has_the_papers_026m_parameters():
    model = models.ParallelCNN(num_classes=4)
    variables = model.init(KEY, jnp.zeros((1, 188, 128)), train=False)
    n = models.count_params(variables["params"])
    # convs 55,200 + FC 3200→64 204,864 + BN 128 + logits 260 = 260,452
    assert n == pytest.approx(260_000, rel=0.05)
    assert n == 260_452


def test_parallel_cnn_paths_pool_to_2x2_and_reconstruct_input_shape():
    model = models.ParallelCNN(num_classes=7, reconstruct=True, channels=8, decoder_dims=(16,))
    x = jax.random.uniform(KEY, (3, 63, 40))
    variables = model.init(KEY, x, train=False)
    logits, aux = model.apply(variables, x, train=False)
    assert logits.shape == (3, 7) and aux["embedding"].shape == (3, 64)
    recon = aux["reconstruction"]
    assert recon.shape == x.shape and float(recon.min()) >= 0.0 and float(recon.max()) <= 1.0
    # 4 paths × 8 channels × 2 × 2 feed the embedding FC
    assert variables["params"]["embed_fc"]["kernel"].shape == (4 * 8 * 2 * 2, 64)


def test_bigru_output_ignores_padding_beyond_true_length():
    model = models.ConvGRU(num_classes=4, conv_channels=(4, 8), gru_units=16, z_dim=8)
    x = jax.random.normal(KEY, (2, 60, 32))
    lengths = jnp.array([37, 60])
    variables = model.init(KEY, x, lengths, train=False)
    ref, aux = model.apply(variables, x, lengths, train=False)
    garbage = x.at[0, 37:].set(1e3)
    longer = jnp.concatenate([x, jax.random.normal(KEY, (2, 25, 32))], axis=1)
    for variant in (garbage, longer):
        out, _ = model.apply(variables, variant, lengths, train=False)
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    shorter, _ = model.apply(variables, x, jnp.array([20, 60]), train=False)
    assert not np.allclose(shorter[0], ref[0])  # the length really is used
    assert aux["embedding"].shape == (2, 8)


def test_pairwise_model_shares_the_encoder():
    model = models.PairwiseModel(num_classes=4, encoder=models.SattEncoder(conv_channels=(4, 4, 4, 4, 4)))
    a = jax.random.normal(KEY, (2, 64, 48))
    b = jax.random.normal(jax.random.PRNGKey(1), (2, 64, 48))
    variables = model.init(KEY, a, b, train=False)
    logits, aux = model.apply(variables, a, b, train=False)
    assert logits.shape == (2, 2) and aux["embedding"].shape == (2, 256)
    swapped, aux2 = model.apply(variables, b, a, train=False)
    np.testing.assert_allclose(aux2["embedding"], aux["embedding2"], rtol=1e-5, atol=1e-6)
    classes = model.init(KEY, a, train=False, method=models.PairwiseModel.classify)
    out, _ = model.apply(classes, a, train=False, method=models.PairwiseModel.classify)
    assert out.shape == (2, 4)


@pytest.mark.parametrize("shape,window", [((2, 9, 7, 3), None), ((3, 185, 123, 2), None), ((1, 4, 2, 1), None),
                                          ((2, 9, 7, 3), (2, 2)), ((2, 25, 16, 4), (2, 2)), ((1, 8, 9, 2), (4, 3))])
def test_max_pool_equals_flax_max_pool_values_and_gradients(shape, window):
    """Random inputs: every window's maximum is unique, so the gradients agree too."""
    import flax.linen as nn

    x = jax.random.normal(KEY, shape)
    pool = models.half_max_pool if window is None else (lambda v: models.max_pool(v, window))
    window = window or (shape[1] // 2, shape[2] // 2)
    reference = lambda v: nn.max_pool(v, window, strides=window)  # noqa: E731
    np.testing.assert_array_equal(pool(x), reference(x))
    grad = jax.grad(lambda v: jnp.sum(jnp.sin(pool(v))))(x)
    expected = jax.grad(lambda v: jnp.sum(jnp.sin(reference(v))))(x)
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-7)


def test_conv_weight_grad_reaches_every_model_and_old_configs_still_build():
    from configs import base

    config = base.get_config()
    config.model.conv_weight_grad = "xla"
    for name in ("parallel_cnn", "conv_gru", "pairwise"):
        config.model.name = name
        module, _ = models.from_config(config.model, 4)
        assert (module.encoder if name == "pairwise" else module).conv_weight_grad == "xla"
    # A run saved before the key moved from model.parallel_cnn to model (its config.json).
    old = base.get_config().model
    del old["conv_weight_grad"]
    old.parallel_cnn.conv_weight_grad = "xla"
    assert models.from_config(old, 4)[0].conv_weight_grad == "xla"
    del old.parallel_cnn["conv_weight_grad"]
    assert models.from_config(old, 4)[0].conv_weight_grad == "auto"


def test_bad_model_settings_fail_at_once_naming_the_config_key():
    from configs import base

    config = base.get_config()
    config.model.conv_weight_grad = "fast"
    with pytest.raises(SerJaxError, match=r"--config\.model\.conv_weight_grad: .*'fast'.*auto"):
        models.from_config(config.model, 4)
    config = base.get_config()
    config.model.name = "conv_gru"
    config.model.conv_gru.unroll = -1
    with pytest.raises(SerJaxError, match=r"--config\.model\.conv_gru\.unroll: .*≥ 0.*got -1"):
        models.from_config(config.model, 4)
