"""Loss terms and center updates against numbers computed by hand (worked in comments)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ser_jax import losses

ONES2 = jnp.ones(2)


def test_softmax_cross_entropy_weighted_and_masked():
    logits = jnp.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [9.0, 0.0, 0.0]])
    labels = jnp.array([2, 0, 1])
    mask = jnp.array([1.0, 1.0, 0.0])
    # row 0: log(1 + e^-1 + e^-2) = log(1.50321472) = 0.40760596; row 1: log 3 = 1.09861229
    out = losses.softmax_cross_entropy(logits=logits, labels=labels, mask=mask)
    np.testing.assert_allclose(out, [0.40760596, 1.09861229, 0.0], rtol=1e-6)
    weighted = losses.softmax_cross_entropy(logits=logits, labels=labels, mask=mask,
                                            class_weights=jnp.array([0.5, 1.0, 2.0]))
    np.testing.assert_allclose(weighted, [0.81521192, 0.54930614, 0.0], rtol=1e-6)
    # masked mean over the 2 real rows: (0.40760596 + 1.09861229) / 2
    assert losses.masked_mean(out, mask) == pytest.approx(0.75310913, rel=1e-6)


def test_softmax_cross_entropy_with_label_smoothing_hand_computed():
    # softmax([ln 1, ln 3]) = [1/4, 3/4]; label 1, ε = 0.2 → targets [0.1, 0.9]
    logits = jnp.array([[0.0, np.log(3.0)]])
    out = losses.softmax_cross_entropy(logits=logits, labels=jnp.array([1]), mask=jnp.ones(1), label_smoothing=0.2)
    np.testing.assert_allclose(out, [-(0.1 * np.log(0.25) + 0.9 * np.log(0.75))], rtol=1e-6)
    plain = losses.softmax_cross_entropy(logits=logits, labels=jnp.array([1]), mask=jnp.ones(1))
    np.testing.assert_allclose(plain, [-np.log(0.75)], rtol=1e-6)


def test_class_weights_inverse_frequency_keep_loss_scale():
    # counts [3, 1, 0] → ∝ [1/3, 1, 0]; Σ n_j ω_j = 2 must equal N = 4 → ×2
    np.testing.assert_allclose(losses.class_weights(np.array([0, 0, 0, 1]), 3), [2 / 3, 2.0, 0.0], rtol=1e-6)


def test_center_loss_l2_l1_and_mask():
    z = jnp.array([[1.0, 2.0], [3.0, 4.0], [7.0, 7.0]])
    centers = jnp.array([[0.0, 0.0], [1.0, 1.0]])
    labels = jnp.array([0, 1, 1])
    mask = jnp.array([1.0, 1.0, 0.0])
    # ½(1² + 2²) = 2.5 ; ½((3−1)² + (4−1)²) = 6.5 ; L1: 1+2 = 3, 2+3 = 5
    np.testing.assert_allclose(losses.center_loss(embeddings=z, centers=centers, labels=labels, mask=mask),
                               [2.5, 6.5, 0.0])
    np.testing.assert_allclose(losses.center_loss(embeddings=z, centers=centers, labels=labels, mask=mask,
                                                  norm="l1"), [3.0, 5.0, 0.0])


def test_center_loss_mean_over_dimensions_means_the_same_whatever_the_embedding_size():
    z = jnp.array([[1.0, 2.0], [3.0, 4.0], [7.0, 7.0]])
    centers = jnp.array([[0.0, 0.0], [1.0, 1.0]])
    labels, mask = jnp.array([0, 1, 1]), jnp.array([1.0, 1.0, 0.0])
    # the sums above over D = 2: 2.5 / 2, 6.5 / 2; L1 3 / 2, 5 / 2
    np.testing.assert_allclose(losses.center_loss(embeddings=z, centers=centers, labels=labels, mask=mask,
                                                  reduce="mean"), [1.25, 3.25, 0.0])
    np.testing.assert_allclose(losses.center_loss(embeddings=z, centers=centers, labels=labels, mask=mask,
                                                  norm="l1", reduce="mean"), [1.5, 2.5, 0.0])
    rng = np.random.default_rng(0)
    values = {}
    for d in (64, 256):
        e = jnp.asarray(rng.normal(size=(512, d)), jnp.float32)
        values[d] = {r: float(jnp.mean(losses.center_loss(embeddings=e, centers=jnp.zeros((1, d)),
                                                          labels=jnp.zeros(512, jnp.int32), mask=jnp.ones(512),
                                                          reduce=r))) for r in ("sum", "mean")}
    assert values[256]["mean"] == pytest.approx(values[64]["mean"], rel=0.05)  # ≈ ½ either way
    assert values[256]["sum"] == pytest.approx(4 * values[64]["sum"], rel=0.05)  # the papers' sum grows with D


def test_center_weight_warms_up_linearly_from_zero():
    from ser_jax.signals.center import Center

    out = {"embedding": jnp.array([[1.0, 2.0], [3.0, 4.0]])}
    batch = {"label": jnp.array([0, 1]), "mask": jnp.ones(2)}
    state = {"centers": jnp.zeros((2, 2))}
    signal = Center(weight=4.0, warmup_steps=10)
    weighted = [float(signal.loss(out, batch, state, step=jnp.int32(s))[0]) for s in (0, 5, 10, 50)]
    value = float(signal.loss(out, batch, state, step=jnp.int32(0))[1]["loss/center"])
    assert value == pytest.approx((2.5 + 12.5) / 2)  # ½(1 + 4), ½(9 + 16): the unweighted term
    assert weighted == pytest.approx([0.0, 2.0 * value, 4.0 * value, 4.0 * value])
    assert float(Center(weight=4.0).loss(out, batch, state, step=jnp.int32(0))[0]) == pytest.approx(4.0 * value)


def test_no_gradient_reaches_the_centers_but_embeddings_get_one():
    z = jnp.array([[1.0, 2.0], [3.0, 4.0]])
    centers = jnp.array([[0.0, 0.0], [1.0, 1.0]])
    labels = jnp.array([0, 1])

    def total(z, c):
        return jnp.sum(losses.center_loss(embeddings=z, centers=c, labels=labels, mask=ONES2))

    gz, gc = jax.grad(total, argnums=(0, 1))(z, centers)
    np.testing.assert_array_equal(gc, jnp.zeros_like(centers))
    np.testing.assert_allclose(gz, z - centers[labels])  # d/dz ½‖z − c‖² = z − c


CENTERS = jnp.array([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]])
Z = jnp.array([[1.0, 2.0], [3.0, 4.0], [2.0, 2.0]])
LABELS = jnp.array([0, 0, 1])


def test_update_centers_wen_rule():
    # class 0, n=2: Σ(c−z) = (−4, −6); /(1+2) = (−4/3, −2); c − 0.5·that = (2/3, 1)
    # class 1, n=1: (1−2, 1−2)/2 = (−0.5, −0.5); → (1.25, 1.25); class 2 absent: unchanged
    new = losses.update_centers(centers=CENTERS, embeddings=Z, labels=LABELS, mask=jnp.ones(3),
                                alpha=0.5, rule="wen")
    np.testing.assert_allclose(new, [[2 / 3, 1.0], [1.25, 1.25], [5.0, 5.0]], rtol=1e-6)


def test_update_centers_moving_mean_rule():
    # class 0 batch mean (2, 3): c − 0.5·((0,0) − (2,3)) = (1, 1.5); class 1 mean (2,2) → (1.5, 1.5)
    new = losses.update_centers(centers=CENTERS, embeddings=Z, labels=LABELS, mask=jnp.ones(3),
                                alpha=0.5, rule="moving_mean")
    np.testing.assert_allclose(new, [[1.0, 1.5], [1.5, 1.5], [5.0, 5.0]], rtol=1e-6)


def test_update_centers_ignores_masked_rows():
    # row 1 masked: class 0 has n=1, (c−z)/(1+1) = (−0.5, −1) → (0.25, 0.5)
    new = losses.update_centers(centers=CENTERS, embeddings=Z, labels=LABELS,
                                mask=jnp.array([1.0, 0.0, 0.0]), alpha=0.5, rule="wen")
    np.testing.assert_allclose(new, [[0.25, 0.5], [1.0, 1.0], [5.0, 5.0]], rtol=1e-6)


def test_reconstruction_mse():
    recon = jnp.array([[[0.5, 0.5]], [[1.0, 0.0]], [[0.0, 0.0]]])
    target = jnp.array([[[0.0, 1.0]], [[1.0, 1.0]], [[1.0, 1.0]]])
    # (0.25 + 0.25)/2 = 0.25 ; (0 + 1)/2 = 0.5 ; masked
    np.testing.assert_allclose(losses.reconstruction_mse(reconstruction=recon, target=target,
                                                         mask=jnp.array([1.0, 1.0, 0.0])), [0.25, 0.5, 0.0])


def test_cosine_margin():
    x1 = jnp.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    x2 = jnp.array([[1.0, 1.0], [1.0, 1.0], [-1.0, 0.0], [-1.0, 0.0]])
    same = jnp.array([1, 0, 0, 1])
    # cos = 1/√2 = 0.70710678: same → 0.29289322, different (m=0.1) → 0.60710678
    # cos = −1: different → max(0, −1.1) = 0, same → 2
    out = losses.cosine_margin(x1=x1, x2=x2, same=same, mask=jnp.ones(4), margin=0.1)
    np.testing.assert_allclose(out, [0.29289322, 0.60710678, 0.0, 2.0], rtol=1e-6)
    masked = losses.cosine_margin(x1=x1, x2=x2, same=same, mask=jnp.array([1.0, 0, 1, 0]), margin=0.1)
    np.testing.assert_allclose(masked, [0.29289322, 0.0, 0.0, 0.0], rtol=1e-6)


def test_pairwise_cross_entropy():
    logits = jnp.array([[0.0, np.log(3.0)], [0.0, np.log(3.0)]])
    # softmax = (1/4, 3/4): same → −log 3/4 = 0.28768207, different → −log 1/4 = 1.38629436
    out = losses.pairwise_cross_entropy(logits=logits, same=jnp.array([1, 0]), mask=ONES2)
    np.testing.assert_allclose(out, [0.28768207, 1.38629436], rtol=1e-6)


def test_unknown_options_are_refused():
    with pytest.raises(ValueError, match="norm 'l3'"):
        losses.center_loss(embeddings=Z, centers=CENTERS, labels=LABELS, mask=jnp.ones(3), norm="l3")
    with pytest.raises(ValueError, match="reduction"):
        losses.center_loss(embeddings=Z, centers=CENTERS, labels=LABELS, mask=jnp.ones(3), reduce="max")
    with pytest.raises(ValueError, match="rule 'sgd'"):
        losses.update_centers(centers=CENTERS, embeddings=Z, labels=LABELS, mask=jnp.ones(3),
                              alpha=0.5, rule="sgd")
