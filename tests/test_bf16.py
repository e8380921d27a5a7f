"""bfloat16 compute with float32 parameters and losses stays close to float32."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ser_jax import models, steps


def _batch(frames, bins):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(8, frames, bins)).astype(np.float32)
    return {"x": x, "target": x, "label": np.arange(8, dtype=np.int32) % 4, "length": np.full(8, frames, np.int32),
            "mask": np.ones(8, np.float32)}


@pytest.mark.parametrize("name", ["parallel_cnn", "conv_gru", "pairwise_classify"])
def test_bf16_loss_within_tolerance_of_float32(name):
    spec = steps.LossSpec(center_weight=0.5, recon_weight=1.0 if name == "parallel_cnn" else 0.0,
                          uses_lengths=name == "conv_gru")
    batch = _batch(64, 64) if name == "pairwise_classify" else _batch(24, 16)  # 5 poolings need 2^5
    if name == "conv_gru":
        batch["length"] = np.array([24, 20, 17, 9, 24, 3, 12, 24], np.int32)  # padded sequences
    embed_dim = 16 if name == "pairwise_classify" else 8

    def make(dtype):
        if name == "parallel_cnn":
            return models.ParallelCNN(num_classes=4, channels=8, embed_dim=8, recon_dim=8, decoder_dims=(16,),
                                      reconstruct=True, dropout=0.0, dtype=dtype)
        if name == "conv_gru":
            return models.ConvGRU(num_classes=4, conv_channels=(4, 8), gru_units=8, z_dim=8, dropout=0.0,
                                  dtype=dtype)
        encoder = models.SattEncoder(conv_channels=(4, 4, 4, 4, 4), embed_dim=16, dtype=dtype)
        return models.PairwiseClassifier(models.PairwiseModel(num_classes=4, encoder=encoder, dtype=dtype))

    key = jax.random.PRNGKey(0)
    f32 = steps.create_train_state(make(jnp.float32), optax.sgd(0.1), key, batch, spec=spec, num_classes=4,
                                   embed_dim=embed_dim)
    bf16 = f32.replace(apply_fn=make(jnp.bfloat16).apply)  # same float32 parameters
    losses = {}
    for label, state in (("f32", f32), ("bf16", bf16)):
        loss, (terms, _, aux) = steps.loss_fn(state.params, state, batch, key, spec=spec)
        assert aux["embedding"].dtype == jnp.float32 and loss.dtype == jnp.float32
        losses[label] = float(loss)
        new_state, _ = jax.jit(functools.partial(steps.train_step, spec=spec))(state, batch, key)
        assert all(p.dtype == jnp.float32 for p in jax.tree_util.tree_leaves(new_state.params))
    # stated tolerance: 2 % of the float32 loss (bf16 keeps 8 bits of mantissa, ~0.4 % per value)
    assert losses["bf16"] == pytest.approx(losses["f32"], rel=2e-2)
    assert losses["bf16"] != losses["f32"]  # the bf16 path really computed in bf16
