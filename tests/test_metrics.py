"""Evaluation aggregation: summed counts over padded batches give the known WA and UA."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ser_jax import metrics, steps


class AlwaysClassOne(nn.Module):
    """A model that predicts class 1 whatever it hears."""

    @nn.compact
    def __call__(self, x, *, train):
        bias = self.param("bias", lambda k: jnp.array([0.0, 5.0, 0.0]))
        logits = jnp.broadcast_to(bias, (x.shape[0], 3)) + 0.0 * x.sum(axis=(1, 2))[:, None]
        return logits, {"embedding": logits}


def test_constant_model_gives_known_wa_and_ua():
    # 10 utterances: 5 of class 0, 3 of class 1, 2 of class 2, in batches of 4 (last padded).
    labels = np.array([0, 0, 0, 0, 0, 1, 1, 1, 2, 2])
    spec = steps.LossSpec()
    state = steps.create_train_state(AlwaysClassOne(), optax.sgd(0.1), jax.random.PRNGKey(0),
                                     {"x": np.zeros((4, 2, 2), np.float32)}, spec=spec,
                                     num_classes=3, embed_dim=3)
    evaluate = jax.jit(functools.partial(steps.eval_step, spec=spec, num_classes=3))
    total = np.zeros((3, 3), np.int64)
    for start in range(0, 10, 4):
        chunk = labels[start:start + 4]
        pad = 4 - chunk.size
        batch = {"x": np.zeros((4, 2, 2), np.float32),
                 "label": np.pad(chunk, (0, pad)).astype(np.int32),
                 "mask": np.pad(np.ones(chunk.size), (0, pad)).astype(np.float32)}
        total += np.asarray(evaluate(state, batch)["confusion"])
    result = metrics.summarize(total, ("a", "b", "c"))
    # WA = 3 correct / 10 ; UA = mean(0, 1, 0) = 1/3
    assert result["n"] == 10 and result["wa"] == pytest.approx(0.3)
    assert result["ua"] == pytest.approx(1 / 3)
    assert result["recall"] == {"a": 0.0, "b": 1.0, "c": 0.0}


def test_absent_class_is_left_out_of_ua():
    result = metrics.summarize(np.array([[2, 1, 0], [0, 3, 0], [0, 0, 0]]), ("a", "b", "c"))
    # recalls 2/3 and 1; class c has no utterance: UA = (2/3 + 1) / 2
    assert result["ua"] == pytest.approx(5 / 6) and result["recall"]["c"] is None
    assert result["wa"] == pytest.approx(5 / 6)


def test_confusion_matrix_counts_pairs():
    matrix = metrics.confusion_matrix(np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, 0]), 3)
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 1, 0], [1, 0, 1]])
