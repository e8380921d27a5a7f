"""One jitted train step per method on small real-shaped batches."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ser_jax import models, steps

KEY = jax.random.PRNGKey(0)


def _batch(b=6, t=24, f=16, classes=(0, 0, 1, 1, 3, 3), mask=(1, 1, 1, 1, 1, 0)):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(b, t, f)).astype(np.float32)
    return {"x": x, "label": np.asarray(classes, np.int32), "mask": np.asarray(mask, np.float32),
            "length": np.full(b, t, np.int32), "target": rng.uniform(size=(b, t, f)).astype(np.float32)}


def _run_two_steps(model, spec, batch, second, *, method=None, classes=4, embed=64):
    tx = optax.adadelta(1.0) if spec.task == "classify" and not spec.uses_lengths else optax.adam(1e-3)
    state = steps.create_train_state(model, tx, KEY, batch, spec=spec, num_classes=classes,
                                     embed_dim=embed, method=method)
    state = state.replace(centers=jax.random.normal(KEY, state.centers.shape))
    before = np.array(state.centers)  # the step donates (deletes) its input state
    traces = []

    def counted(state, batch, key):
        traces.append(1)  # runs only while tracing
        return steps.train_step(state, batch, key, spec=spec)

    step = jax.jit(counted, donate_argnums=0)
    new, metrics = step(state, batch, KEY)
    after_first = np.asarray(new.centers)
    new, _ = step(new, second, KEY)
    return before, after_first, new, metrics, len(traces)


def _check(new, metrics, traces, terms):
    assert int(new.step) == 2 and traces == 1  # second batch of the same shape: no retrace
    assert all(np.all(np.isfinite(np.asarray(l))) for l in jax.tree_util.tree_leaves(new.params))
    assert set(metrics) == set(terms) | {"loss/total", "grad_norm"}
    assert all(np.isfinite(float(v)) for v in metrics.values())


def test_parallel_cnn_s_a_c_step_moves_only_present_centers():
    model = models.ParallelCNN(num_classes=4, channels=4, reconstruct=True, decoder_dims=(8,))
    spec = steps.LossSpec(center_weight=4.0, recon_weight=1.0, center_rule="wen")
    batch = _batch()
    before, after, new, metrics, traces = _run_two_steps(model, spec, batch, _batch(classes=(1,) * 6))
    _check(new, metrics, traces, {"loss/ce", "loss/center", "loss/recon"})
    moved = ~np.all(np.isclose(after, before), axis=1)
    assert moved.tolist() == [True, True, False, True]  # class 2 was not in the batch


def test_masked_row_only_class_does_not_move():
    model = models.ParallelCNN(num_classes=4, channels=4)
    spec = steps.LossSpec(center_weight=1.0)
    batch = _batch(classes=(0, 0, 1, 1, 1, 2), mask=(1, 1, 1, 1, 1, 0))  # class 2 only in padding
    before, after, *_ = _run_two_steps(model, spec, batch, batch)
    assert np.allclose(after[2], before[2]) and not np.allclose(after[0], before[0])


def test_convgru_weighted_ce_moving_mean_centers():
    model = models.ConvGRU(num_classes=4, conv_channels=(4,), gru_units=8, z_dim=16)
    spec = steps.LossSpec(uses_lengths=True, class_weights=(1.0, 2.0, 3.0, 0.5), center_weight=0.3,
                          center_rule="moving_mean", center_alpha=0.5)
    batch = _batch()
    batch["length"] = np.asarray([24, 20, 16, 12, 8, 24], np.int32)
    before, after, new, metrics, traces = _run_two_steps(model, spec, batch, batch, embed=16)
    _check(new, metrics, traces, {"loss/ce", "loss/center"})
    assert np.allclose(after[2], before[2]) and not np.allclose(after[3], before[3])


def test_pairwise_step_and_centers_untouched():
    model = models.PairwiseModel(num_classes=4, encoder=models.SattEncoder(conv_channels=(4,) * 5))
    spec = steps.LossSpec(task="pairwise", cos_weight=0.9, margin=0.1)
    rng = np.random.default_rng(1)
    batch = {"x1": rng.normal(size=(6, 32, 32)).astype(np.float32),
             "x2": rng.normal(size=(6, 32, 32)).astype(np.float32),
             "same": np.asarray([1, 0, 0, 1, 0, 0], np.int32), "mask": np.ones(6, np.float32)}
    before, after, new, metrics, traces = _run_two_steps(model, spec, batch, batch, embed=256)
    _check(new, metrics, traces, {"loss/cos", "loss/ce"})
    assert np.allclose(after, before)
    # L = 0.9·cos + 0.1·CE, combined in loss_fn
    expected = 0.9 * float(metrics["loss/cos"]) + 0.1 * float(metrics["loss/ce"])
    assert float(metrics["loss/total"]) == pytest.approx(expected, rel=1e-5)


def test_eval_step_counts_ignore_padding():
    model = models.ParallelCNN(num_classes=4, channels=4)
    spec = steps.LossSpec()
    batch = _batch()
    state = steps.create_train_state(model, optax.sgd(0.1), KEY, batch, spec=spec, num_classes=4, embed_dim=64)
    out = jax.jit(functools.partial(steps.eval_step, spec=spec, num_classes=4))(state, batch)
    confusion = np.asarray(out["confusion"])
    assert confusion.sum() == 5  # 6 rows, one padded
    np.testing.assert_array_equal(confusion.sum(axis=1), [2, 2, 0, 1])
