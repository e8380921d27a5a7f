"""Encoders and the Network: shapes, the paper's parameter count, padding-independence of
the BiGRU, the shared pairwise encoder, pooling, and config-time refusals."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ser_jax import layers, method
from ser_jax.encoders.conv_gru import ConvGRU
from ser_jax.encoders.parallel_cnn import ParallelCNN
from ser_jax.encoders.satt import Satt
from ser_jax.errors import SerJaxError
from ser_jax.signals.center import Center
from ser_jax.signals.pairwise import Pairwise
from ser_jax.signals.reconstruction import Reconstruction
from ser_jax.signals.softmax import Softmax

KEY = jax.random.PRNGKey(0)


def _init(network, x, lengths=None, pairs=False):
    lengths = jnp.full((x.shape[0],), x.shape[1]) if lengths is None else lengths
    return network.init(KEY, x, lengths, train=False, pairs=pairs)


def test_parallel_cnn_s_plus_c_has_the_papers_026m_parameters():
    network = method.Method(ParallelCNN(), (Softmax(), Center(weight=4.0))).network(4)
    n = layers.count_params(_init(network, jnp.zeros((1, 188, 128)))["params"])
    # convs 55,200 + FC 3200→64 204,864 + BN 128 + logits 260 = 260,452
    assert n == pytest.approx(260_000, rel=0.05)
    assert n == 260_452
    assert method.Method(ParallelCNN(), (Softmax(), Center(weight=4.0))).count_params(4, 188, 128) == n


def test_parallel_cnn_paths_pool_to_2x2_and_reconstruct_input_shape():
    network = method.Method(ParallelCNN(channels=8), (Softmax(), Reconstruction(decoder_dims=(16,)))).network(7)
    x = jax.random.uniform(KEY, (3, 63, 40))
    variables = _init(network, x)
    out = network.apply(variables, x, jnp.full((3,), 63), train=False)
    assert out["logits"].shape == (3, 7) and out["embedding"].shape == (3, 64)
    recon = out["reconstruction"]
    assert recon.shape == x.shape and float(recon.min()) >= 0.0 and float(recon.max()) <= 1.0
    # 4 paths × 8 channels × 2 × 2 feed the embedding FC and the decoder branch (the trunk)
    assert variables["params"]["embed_fc"]["kernel"].shape == (4 * 8 * 2 * 2, 64)
    assert variables["params"]["recon_fc"]["kernel"].shape == (4 * 8 * 2 * 2, 64)


def test_bigru_output_ignores_padding_beyond_true_length():
    network = method.Method(ConvGRU(conv_channels=(4, 8), gru_units=16, z_dim=8), (Softmax(),)).network(4)
    x = jax.random.normal(KEY, (2, 60, 32))
    lengths = jnp.array([37, 60])
    variables = _init(network, x, lengths)
    ref = network.apply(variables, x, lengths, train=False)
    garbage = x.at[0, 37:].set(1e3)
    longer = jnp.concatenate([x, jax.random.normal(KEY, (2, 25, 32))], axis=1)
    for variant in (garbage, longer):
        out = network.apply(variables, variant, lengths, train=False)
        np.testing.assert_allclose(out["logits"], ref["logits"], rtol=1e-5, atol=1e-6)
    shorter = network.apply(variables, x, jnp.array([20, 60]), train=False)
    assert not np.allclose(shorter["logits"][0], ref["logits"][0])  # the length really is used
    assert ref["embedding"].shape == (2, 8)


def test_pairwise_head_shares_the_encoder_and_its_vectors_are_the_embeddings():
    network = method.Method(Satt(conv_channels=(4, 4, 4, 4, 4)), (Pairwise(),)).network(4)
    a = jax.random.normal(KEY, (2, 64, 48))
    b = jax.random.normal(jax.random.PRNGKey(1), (2, 64, 48))
    variables = _init(network, jnp.concatenate([a, b]), pairs=True)
    lengths = jnp.full((4,), 64)
    out = network.apply(variables, jnp.concatenate([a, b]), lengths, train=False, pairs=True)
    assert out["pair_logits"].shape == (2, 2) and out["embedding"].shape == (4, 256)
    swapped = network.apply(variables, jnp.concatenate([b, a]), lengths, train=False, pairs=True)
    np.testing.assert_allclose(swapped["embedding"][:2], out["embedding"][2:], rtol=1e-5, atol=1e-6)
    single = network.apply(variables, a, lengths[:2], train=False)  # evaluation: utterances, no pair head
    assert "pair_logits" not in single
    np.testing.assert_allclose(single["embedding"], out["embedding"][:2], rtol=1e-5, atol=1e-6)
    assert set(variables["params"]) == {"encoder", "disc_hidden", "disc_out"}


@pytest.mark.parametrize("shape,window", [((2, 9, 7, 3), None), ((3, 185, 123, 2), None), ((1, 4, 2, 1), None),
                                          ((2, 9, 7, 3), (2, 2)), ((2, 25, 16, 4), (2, 2)), ((2, 8, 6, 3), (2, 2)),
                                          ((1, 8, 9, 2), (4, 3))])
def test_max_pool_equals_flax_max_pool_values_and_gradients(shape, window):
    """Random inputs: every window's maximum is unique, so the gradients agree too. Both forms
    of max_pool: 2 × 2 windows that leave a row or column out (strided views), the others
    (reshape)."""
    import flax.linen as nn

    x = jax.random.normal(KEY, shape)
    pool = layers.half_max_pool if window is None else (lambda v: layers.max_pool(v, window))
    window = window or (shape[1] // 2, shape[2] // 2)
    reference = lambda v: nn.max_pool(v, window, strides=window)  # noqa: E731
    np.testing.assert_array_equal(pool(x), reference(x))
    grad = jax.grad(lambda v: jnp.sum(jnp.sin(pool(v))))(x)
    expected = jax.grad(lambda v: jnp.sum(jnp.sin(reference(v))))(x)
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-7)


def test_conv_weight_grad_reaches_every_encoder():
    from configs import base

    config = base.get_config()
    config.model.conv_weight_grad = "xla"
    for name in ("parallel_cnn", "conv_gru", "satt"):
        config.model.encoder = name
        assert method.from_config(config).encoder.conv_weight_grad == "xla"


def test_bad_model_settings_fail_at_once_naming_the_config_key():
    from configs import base

    config = base.get_config()
    config.model.conv_weight_grad = "fast"
    with pytest.raises(SerJaxError, match=r"--config\.model\.conv_weight_grad: .*'fast'.*auto"):
        method.from_config(config)
    config = base.get_config()
    config.model.encoder = "conv_gru"
    config.model.conv_gru.unroll = -1
    with pytest.raises(SerJaxError, match=r"--config\.model\.conv_gru\.unroll: .*≥ 0.*got -1"):
        method.from_config(config)
    config.model.encoder = "transformer"
    with pytest.raises(SerJaxError, match=r"--config\.model\.encoder='transformer'.*parallel_cnn, conv_gru, satt"):
        method.from_config(config)


def _refusal(**settings):
    from configs import base

    config = base.get_config()
    config.update_from_flattened_dict(settings)
    with pytest.raises(SerJaxError) as err:
        method.check(config)
    return str(err.value)


def test_impossible_combinations_are_refused_at_config_time_naming_the_keys():
    message = _refusal(**{"model.encoder": "conv_gru", "signals.reconstruction.weight": 1.0})
    assert "--config.signals.reconstruction.weight" in message and "--config.model.encoder=conv_gru" in message
    assert "\n" not in message
    message = _refusal(**{"signals.pairwise.weight": 1.0})  # softmax is on too: two batch kinds
    assert "--config.signals.pairwise.weight" in message and "--config.signals.softmax.weight" in message
    assert "--config.train.crop_percentile > 0" in _refusal(**{"model.encoder": "satt",
                                                                 "train.crop_percentile": 0.0})
    assert "--config.features.crop_seconds" in _refusal(**{"signals.reconstruction.weight": 1.0,
                                                           "train.crop_percentile": 0.0})
    assert "--config.train.crop_percentile" in _refusal(**{"features.crop_seconds": 6.0})
    assert "no training signal is on" in _refusal(**{"signals.softmax.weight": 0.0})
    # the paper's sigmoid decoder cannot reach standardised (or unscaled) targets
    message = _refusal(**{"signals.reconstruction.weight": 1.0, "train.input_scaling": "standardize"})
    assert "--config.signals.reconstruction.output=sigmoid" in message and "output=linear" in message
    assert "input_scaling=minmax" in message


def test_any_signal_on_any_encoder_where_shapes_allow():
    from configs import base

    built = []
    for encoder in ("parallel_cnn", "conv_gru", "satt"):
        for signals in ({"softmax": 1.0, "center": 0.5}, {"softmax": 0.0, "pairwise": 1.0},
                        {"softmax": 1.0, "reconstruction": 1.0}):
            config = base.get_config()
            config.model.encoder = encoder
            for name, weight in signals.items():
                config.signals[name].weight = weight
            if encoder == "conv_gru" and "reconstruction" in signals:
                continue  # refused: tested above
            built.append(method.from_config(config).describe())
    assert "parallel_cnn + pairwise(1)" in built and "satt + softmax(1) + center(0.5)" in built
    assert len(built) == 8


@pytest.mark.parametrize("shape", [(2, 9, 7, 3), (3, 40, 16, 2), (1, 4, 2, 1)])
def test_valid_half_max_pool_equals_half_max_pool_on_full_inputs_and_ignores_padding(shape):
    x = jax.random.uniform(KEY, shape)
    full = jnp.full((shape[0],), shape[1])
    np.testing.assert_array_equal(layers.valid_half_max_pool(x, full), layers.half_max_pool(x))
    lengths = jnp.asarray([max(1, shape[1] // (i + 2)) for i in range(shape[0])])
    padded = jnp.where(jnp.arange(shape[1])[None, :, None, None] < lengths[:, None, None, None], x, 1e3)
    np.testing.assert_array_equal(layers.valid_half_max_pool(padded, lengths), layers.valid_half_max_pool(x, lengths))
    grad = jax.grad(lambda v: jnp.sum(layers.valid_half_max_pool(v, lengths)))(x)
    beyond = np.arange(shape[1])[None, :] >= np.asarray(lengths)[:, None]
    assert not np.any(np.asarray(grad)[beyond])  # no gradient reaches the padding


def test_parallel_cnn_output_ignores_the_padding_of_a_short_utterance():
    """Quadrant pooling took half of each path's pooled features from padding alone for an
    utterance shorter than half the input; now the pooling stays within its true length."""
    network = method.Method(ParallelCNN(channels=4), (Softmax(),)).network(4)
    x = jax.random.normal(KEY, (2, 64, 24))
    lengths = jnp.array([20, 64])
    variables = _init(network, x, lengths)
    ref = network.apply(variables, x, lengths, train=False)
    other_padding = x.at[0, 20:].set(jax.random.normal(jax.random.PRNGKey(3), (44, 24)) * 10)
    out = network.apply(variables, other_padding, lengths, train=False)
    np.testing.assert_allclose(out["logits"], ref["logits"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["embedding"], ref["embedding"], rtol=1e-5, atol=1e-6)
    full = network.apply(variables, x, jnp.array([64, 64]), train=False)
    assert not np.allclose(full["logits"][0], ref["logits"][0])  # the length really is used


@pytest.mark.parametrize("shape,lengths", [((4, 9, 7, 3), (1, 2, 5, 9)), ((3, 12, 10, 2), (12, 3, 7))])
def test_valid_half_max_pool_gradient_equals_autodiff_of_its_definition(shape, lengths):
    """The hand-written gradient (one elementwise pass) against autodiff of the forward
    definition, including one valid row (it fills both time halves) and an odd width."""
    x = jax.random.normal(KEY, shape)
    lengths = jnp.asarray(lengths)
    loss = lambda pool: lambda v: jnp.sum(jnp.sin(3 * pool(v, lengths)))  # noqa: E731
    grad = jax.grad(loss(layers.valid_half_max_pool))(x)
    expected = jax.grad(loss(layers.valid_half_max_pool.fun))(x)
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-7)
    assert np.count_nonzero(grad) == np.count_nonzero(expected) > 0


def test_parallel_cnn_pools_before_bias_and_relu_with_the_same_values_and_gradients():
    """Each path computes ReLU(pool(conv) + bias), which equals pool(ReLU(conv + bias)) (the
    seed's order): same trunk and the same parameter gradients."""
    from ser_jax import conv

    import flax.linen as nn

    encoder = ParallelCNN(channels=5, kernel_sizes=((4, 6), (3, 3)), embed_dim=8, dropout=0.0)

    class Trunk(nn.Module):
        @nn.compact
        def __call__(self, x, lengths):
            return encoder(x, lengths, train=False).trunk

    x = jax.random.normal(KEY, (3, 20, 16))
    lengths = jnp.asarray([20, 11, 6])
    variables = Trunk().init(KEY, x, lengths)

    def reference_trunk(params):
        paths = []
        for i, (kt, kf) in enumerate(encoder.kernel_sizes):
            p = params[f"Conv_{i}"]
            c = jax.nn.relu(conv.conv2d(x[..., None], p["kernel"]) + p["bias"])
            paths.append(layers.valid_half_max_pool.fun(c, jnp.maximum(lengths - kt + 1, 1)).reshape(3, -1))
        return jnp.concatenate(paths, axis=-1)

    def trunk(params):
        return Trunk().apply({**variables, "params": params}, x, lengths)

    params = variables["params"]
    np.testing.assert_allclose(trunk(params), reference_trunk(params), rtol=1e-6, atol=1e-6)
    weights = jax.random.normal(jax.random.PRNGKey(1), trunk(params).shape)
    grad = jax.grad(lambda p: jnp.sum(weights * trunk(p)))(params)
    expected = jax.grad(lambda p: jnp.sum(weights * reference_trunk(p)))(params)
    for i in range(len(encoder.kernel_sizes)):
        for name in ("kernel", "bias"):
            np.testing.assert_allclose(grad[f"Conv_{i}"][name], expected[f"Conv_{i}"][name], rtol=1e-5, atol=1e-5)


def test_valid_half_mean_pool_by_hand_and_without_padding():
    """Means over the valid rows' halves and the column halves (an odd width's last column in
    neither), checked on numbers small enough to add by hand."""
    x = jnp.arange(5 * 5, dtype=jnp.float32).reshape(1, 5, 5, 1)  # x[t, f] = 5t + f
    # 4 valid rows: halves t ∈ {0, 1} and {2, 3}; columns {0, 1} and {2, 3} (column 4 left out)
    # quadrant (0, 0): mean of 0, 1, 5, 6 = 3; (0, 1): 2, 3, 7, 8 → 5; (1, 0): 10, 11, 15, 16 → 13; (1, 1): 15
    np.testing.assert_allclose(layers.valid_half_mean_pool(x, jnp.array([4]))[0, :, :, 0], [[3.0, 5.0], [13.0, 15.0]])
    # 3 valid rows: halves {0} and {1} (row 2 in neither, as in the max pool)
    np.testing.assert_allclose(layers.valid_half_mean_pool(x, jnp.array([3]))[0, :, :, 0], [[0.5, 2.5], [5.5, 7.5]])
    # one valid row fills both time halves
    np.testing.assert_allclose(layers.valid_half_mean_pool(x, jnp.array([1]))[0, :, :, 0], [[0.5, 2.5], [0.5, 2.5]])
    padded = x.at[:, 4:].set(1e6)
    np.testing.assert_array_equal(layers.valid_half_mean_pool(padded, jnp.array([4])),
                                  layers.valid_half_mean_pool(x, jnp.array([4])))
    half = layers.valid_half_mean_pool(x.astype(jnp.bfloat16), jnp.array([4]))  # summed in float32, returned in bf16
    assert half.dtype == jnp.bfloat16
    np.testing.assert_allclose(half.astype(jnp.float32)[0, :, :, 0], [[3.0, 5.0], [13.0, 15.0]])


def test_parallel_cnn_max_mean_pool_adds_each_quadrants_mean_and_keeps_the_max_features():
    """pool='max_mean': per path [max | mean] of ReLU(conv + bias) per quadrant, with the same
    parameters as pool='max' (so the max half equals the paper's trunk), padding kept out."""
    import flax.linen as nn

    from ser_jax import conv

    def trunk_of(encoder):
        class Trunk(nn.Module):
            @nn.compact
            def __call__(self, x, lengths):
                return encoder(x, lengths, train=False).trunk
        return Trunk()

    kernels = ((4, 6), (3, 3))
    mean_pool = ParallelCNN(channels=5, kernel_sizes=kernels, embed_dim=8, dropout=0.0, pool="max_mean")
    x = jax.random.normal(KEY, (3, 20, 16))
    lengths = jnp.asarray([20, 11, 6])
    variables = trunk_of(mean_pool).init(KEY, x, lengths)
    both = trunk_of(mean_pool).apply(variables, x, lengths).reshape(3, 2, 2, 2, 10)  # path, quadrant, 2 × channels
    paper_trunk = trunk_of(ParallelCNN(channels=5, kernel_sizes=kernels, embed_dim=8, dropout=0.0))
    paper_variables = paper_trunk.init(KEY, x, lengths)  # its embedding FC reads half as many features
    convs = {name: p for name, p in variables["params"].items() if name.startswith("Conv_")}
    paper = paper_trunk.apply({**paper_variables, "params": {**paper_variables["params"], **convs}}, x, lengths)
    np.testing.assert_allclose(both[..., :5].reshape(3, -1), paper, rtol=1e-6, atol=1e-6)
    for i, (kt, _) in enumerate(kernels):
        p = variables["params"][f"Conv_{i}"]
        a = np.asarray(jax.nn.relu(conv.conv2d(x[..., None], p["kernel"]) + p["bias"]))
        for b in range(3):
            valid = max(int(lengths[b]) - kt + 1, 1)
            half, w2 = valid // 2, a.shape[2] // 2
            expected = a[b, half:2 * half, w2:2 * w2].mean(axis=(0, 1))  # second time half, second column half
            np.testing.assert_allclose(both[b, i, 1, 1, 5:], expected, rtol=1e-5, atol=1e-6)
    garbage = x.at[1, 11:].set(1e3)
    np.testing.assert_allclose(trunk_of(mean_pool).apply(variables, garbage, lengths),
                               trunk_of(mean_pool).apply(variables, x, lengths), rtol=1e-6, atol=1e-6)


def test_parallel_cnn_pool_is_checked_when_the_method_is_built():
    from configs import s

    config = s.get_config()
    config.model.parallel_cnn.pool = "avg"
    with pytest.raises(SerJaxError, match=r"--config\.model\.parallel_cnn\.pool='avg': choose one of max, max_mean"):
        method.from_config(config)
    config.model.parallel_cnn.pool = "max_mean"
    config.model.conv_weight_grad = "pooled"
    with pytest.raises(SerJaxError, match=r"--config\.model\.parallel_cnn\.pool='max_mean'.*auto, gemm or xla"):
        method.from_config(config)


def test_a_linear_decoder_takes_standardised_inputs():
    from configs import sa

    config = sa.get_config()
    config.train.input_scaling = "standardize"
    config.signals.reconstruction.output = "linear"
    method.check(config)
    assert method.from_config(config).signals[-1].output == "linear"
    config.signals.reconstruction.output = "tanh"
    with pytest.raises(SerJaxError, match=r"--config\.signals\.reconstruction\.output='tanh': sigmoid \| linear"):
        method.from_config(config)
