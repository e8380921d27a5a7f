"""One jitted train step per method on small real-shaped batches."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ser_jax import steps
from ser_jax.encoders.conv_gru import ConvGRU
from ser_jax.encoders.parallel_cnn import ParallelCNN
from ser_jax.encoders.satt import Satt
from ser_jax.method import Method
from ser_jax.signals.center import Center
from ser_jax.signals.pairwise import Pairwise
from ser_jax.signals.reconstruction import Reconstruction
from ser_jax.signals.softmax import Softmax

KEY = jax.random.PRNGKey(0)


def _batch(b=6, t=24, f=16, classes=(0, 0, 1, 1, 3, 3), mask=(1, 1, 1, 1, 1, 0)):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(b, t, f)).astype(np.float32)
    return {"x": x, "label": np.asarray(classes, np.int32), "mask": np.asarray(mask, np.float32),
            "length": np.full(b, t, np.int32)}


def _centers(state):
    return np.array(state.signals["center"]["centers"]) if "center" in state.signals else np.zeros((4, 1))


def _run_two_steps(method, batch, second, *, classes=4, train_labels=(0, 1, 1, 2, 3, 3)):
    tx = optax.adadelta(1.0) if isinstance(method.encoder, ParallelCNN) else optax.adam(1e-3)
    state = steps.create_train_state(method, classes, tx, KEY, batch, train_labels=np.asarray(train_labels))
    if "center" in state.signals:
        centers = jax.random.normal(KEY, state.signals["center"]["centers"].shape)
        state = state.replace(signals={**state.signals, "center": {"centers": centers}})
    before = _centers(state)  # the step donates (deletes) its input state
    traces = []

    def counted(state, batch, key):
        traces.append(1)  # runs only while tracing
        return steps.train_step(state, batch, key, method=method)

    step = jax.jit(counted, donate_argnums=0)
    new, metrics = step(state, batch, KEY)
    after_first = _centers(new)
    new, _ = step(new, second, KEY)
    return before, after_first, new, metrics, len(traces)


def _check(new, metrics, traces, terms):
    assert int(new.step) == 2 and traces == 1  # second batch of the same shape: no retrace
    assert all(np.all(np.isfinite(np.asarray(l))) for l in jax.tree_util.tree_leaves(new.params))
    assert set(metrics) == set(terms) | {"loss/total", "grad_norm"}
    assert all(np.isfinite(float(v)) for v in metrics.values())


def test_parallel_cnn_s_a_c_step_moves_only_present_centers():
    method = Method(ParallelCNN(channels=4), (Softmax(), Center(weight=4.0, rule="wen"),
                                              Reconstruction(weight=1.0, decoder_dims=(8,))))
    batch = _batch()
    before, after, new, metrics, traces = _run_two_steps(method, batch, _batch(classes=(1,) * 6))
    _check(new, metrics, traces, {"loss/ce", "loss/center", "loss/recon"})
    moved = ~np.all(np.isclose(after, before), axis=1)
    assert moved.tolist() == [True, True, False, True]  # class 2 was not in the batch


def test_masked_row_only_class_does_not_move():
    method = Method(ParallelCNN(channels=4), (Softmax(), Center(weight=1.0)))
    batch = _batch(classes=(0, 0, 1, 1, 1, 2), mask=(1, 1, 1, 1, 1, 0))  # class 2 only in padding
    before, after, *_ = _run_two_steps(method, batch, batch)
    assert np.allclose(after[2], before[2]) and not np.allclose(after[0], before[0])


def test_convgru_weighted_ce_moving_mean_centers():
    method = Method(ConvGRU(conv_channels=(4,), gru_units=8, z_dim=16),
                    (Softmax(class_weighted=True), Center(weight=0.3, rule="moving_mean", alpha=0.5)))
    batch = _batch()
    batch["length"] = np.asarray([24, 20, 16, 12, 8, 24], np.int32)
    before, after, new, metrics, traces = _run_two_steps(method, batch, batch, train_labels=(0, 0, 0, 1, 2, 3, 3, 3))
    _check(new, metrics, traces, {"loss/ce", "loss/center"})
    assert np.allclose(after[2], before[2]) and not np.allclose(after[3], before[3])
    # the fold's class weights are the softmax signal's state: ω ∝ 1/n, Σ n·ω = N = 8
    np.testing.assert_allclose(new.signals["softmax"]["class_weights"], [8 / 12, 2.0, 2.0, 8 / 12], rtol=1e-6)


def test_pairwise_step_carries_no_centers():
    method = Method(Satt(conv_channels=(4,) * 5), (Pairwise(cos_weight=0.9, margin=0.1),))
    rng = np.random.default_rng(1)
    batch = {"x": rng.normal(size=(12, 32, 32)).astype(np.float32), "length": np.full(12, 32, np.int32),
             "same": np.asarray([1, 0, 0, 1, 0, 0], np.int32), "mask": np.ones(6, np.float32)}
    before, after, new, metrics, traces = _run_two_steps(method, batch, batch)
    _check(new, metrics, traces, {"loss/cos", "loss/ce"})
    assert new.signals == {}  # no centers carried without the center signal
    # L = 0.9·cos + 0.1·CE, combined in loss_fn
    expected = 0.9 * float(metrics["loss/cos"]) + 0.1 * float(metrics["loss/ce"])
    assert float(metrics["loss/total"]) == pytest.approx(expected, rel=1e-5)


def test_eval_step_gives_each_rows_class_probabilities():
    method = Method(ParallelCNN(channels=4), (Softmax(),))
    batch = _batch()
    state = steps.create_train_state(method, 4, optax.sgd(0.1), KEY, batch)
    out = jax.jit(functools.partial(steps.eval_step, method=method, num_classes=4))(state, batch)
    logits = state.apply_fn({"params": state.params, "batch_stats": state.batch_stats}, batch["x"], batch["length"],
                            train=False)["logits"]
    probabilities = np.asarray(out["probabilities"])
    assert probabilities.shape == (6, 4)  # every row, padded ones too: evaluation keeps the masked-in rows
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(probabilities, jax.nn.softmax(logits, axis=-1), rtol=1e-5, atol=1e-7)


def test_optimizer_warm_up_cosine_decay_and_decoupled_weight_decay():
    import ml_collections

    from ser_jax import train
    from ser_jax.errors import SerJaxError

    optim = ml_collections.ConfigDict({"name": "adamw", "learning_rate": 1e-3, "schedule": "cosine",
                                       "warmup_steps": 10, "weight_decay": 0.1, "grad_clip": 0.0})
    tx, schedule = train.build_optimizer(optim, total_steps=110)
    rates = [float(schedule(s)) for s in (0, 5, 10, 60, 110)]
    assert rates == pytest.approx([0.0, 5e-4, 1e-3, 5e-4, 0.0], abs=1e-9)  # linear up, cosine down to 0
    params = {"w": jnp.ones(3)}
    state = tx.init(params)
    for _ in range(11):  # zero gradients: only the decoupled decay moves the weights
        updates, state = tx.update({"w": jnp.zeros(3)}, state, params)
        params = optax.apply_updates(params, updates)
    assert 0.99 < float(params["w"][0]) < 1.0
    optim.update(schedule="constant", name="adam", weight_decay=0.0)
    _, constant = train.build_optimizer(optim, total_steps=110)
    assert [float(constant(s)) for s in (0, 5, 10, 100)] == pytest.approx([0.0, 5e-4, 1e-3, 1e-3], abs=1e-9)
    optim.weight_decay = 0.1
    with pytest.raises(SerJaxError, match="weight_decay.*adamw"):
        train.build_optimizer(optim, total_steps=110)


def _decoder_at_start(scaling: str, seed: int, **decoder):
    """dB-like inputs structured per cell, scaled (`scaling`) with their own statistics, and for
    each init_bias the decoder's reconstruction MSE at initialisation; with the last method and
    state built."""
    from pathlib import Path

    from ser_jax import feature_cache, features, input_pipeline

    rng = np.random.default_rng(seed)
    n, t, f = 24, 24, 16
    profile = np.linspace(-60.0, 0.0, f)[None, None, :] + np.linspace(0, 10, t)[None, :, None]
    data = (profile + rng.normal(0, 3, (n, t, f))).astype(np.float32)
    params = dataclasses.replace(features.PRESETS["tripathi_mel"], crop_seconds=1.0)
    store = feature_cache.FeatureStore(path=Path("."), params=params, lengths=np.full(n, t), data=data,
                                       offsets=None, computed=False)
    records = np.arange(n)
    scaler = input_pipeline.fit_scaler(scaling, store, records, np.full(n, t))
    source = input_pipeline.Source(store, records, np.zeros(n, np.int32), scaler, input_pipeline.InputShape(True))
    x, lengths = source.features_of(records)
    batch = {"x": x, "length": lengths, "label": np.zeros(n, np.int32), "mask": np.ones(n, np.float32)}
    mse = {}
    for init in ("zero", "mean"):
        method = Method(ParallelCNN(channels=4), (Reconstruction(decoder_dims=(8,), init_bias=init, **decoder),))
        state = steps.create_train_state(method, 2, optax.adadelta(1.0), KEY, batch)
        state = state.replace(params=method.init_params(state.params, source))
        out = jax.jit(functools.partial(steps.eval_step, method=method, num_classes=2))(state, batch)
        mse[init] = float(out["recon_se"]) / n
    return x, batch, mse, method, state


def test_reconstruction_decoder_starts_at_the_per_cell_training_mean():
    """With Adadelta the decoder barely moves from its initial output, so a zero-initialised
    output bias left every cell near 0.5 (the MSE of a constant 0.5). `init_bias="mean"`
    starts it at each cell's training-fold mean: the best input-independent predictor."""
    x, _, mse, _, _ = _decoder_at_start("minmax", 0)
    per_cell_mean = float(np.mean((x - x.mean(axis=0)) ** 2))
    assert mse["mean"] < 1.2 * per_cell_mean and mse["zero"] > 2 * per_cell_mean


def test_weight_averaging_keeps_the_moving_average_of_the_parameters():
    """ema ← d·ema + (1 − d)·params after every step: with d = 0.5 and parameters p0 (start),
    p1, p2 after two steps, ema = 0.25·p0 + 0.25·p1 + 0.5·p2; off, the state carries none."""
    method = Method(ParallelCNN(channels=4), (Softmax(),))
    batch = _batch()
    state = steps.create_train_state(method, 4, optax.sgd(0.5), KEY, batch)
    assert state.ema == {} and steps.averaged(state) is state
    state = state.replace(ema=jax.tree.map(jnp.copy, state.params))
    step = jax.jit(functools.partial(steps.train_step, method=method, ema_decay=0.5))
    p = [jax.tree.map(np.asarray, state.params)]
    for _ in range(2):
        state, _ = step(state, batch, KEY)
        p.append(jax.tree.map(np.asarray, state.params))
    expected = jax.tree.map(lambda a, b, c: 0.25 * a + 0.25 * b + 0.5 * c, *p)
    moved = jax.tree.map(lambda a, c: float(np.abs(a - c).max()), p[0], p[2])
    assert max(jax.tree_util.tree_leaves(moved)) > 1e-3  # the parameters did move
    for got, want in zip(jax.tree_util.tree_leaves(state.ema), jax.tree_util.tree_leaves(expected)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert steps.averaged(state).params is state.ema


def test_a_linear_decoder_starts_at_the_per_cell_mean_of_standardised_inputs():
    """output='linear' (for standardised inputs, which a sigmoid cannot reach): the output bias
    starts at each cell's training-fold mean itself, no logit, and the output takes negative values."""
    x, batch, mse, method, state = _decoder_at_start("standardize", 1, output="linear")
    np.testing.assert_allclose(state.params["decoder_out"]["bias"], x.mean(axis=0).reshape(-1), rtol=1e-5, atol=1e-5)
    out = method.network(2).apply({"params": state.params, "batch_stats": state.batch_stats}, batch["x"],
                                  batch["length"], train=False)
    assert float(out["reconstruction"].min()) < -0.5  # a sigmoid could not go there
    # the bias removes the squared per-cell means from the error (the kernel's random output stays)
    assert mse["zero"] - mse["mean"] == pytest.approx(float(np.mean(x.mean(axis=0) ** 2)), rel=0.2)
