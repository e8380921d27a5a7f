"""Flax linen modules of the three methods. Each returns `(logits, aux)`, aux["embedding"].

Inputs are time-major features [B, T, F] (see `ser_jax.features`). Sizes the seeds leave
open are module attributes, set from the config; their defaults and reasons are in the
experiment configs' docstrings.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from ser_jax import conv, gru
from ser_jax.errors import SerJaxError


def max_pool(x: jax.Array, window: Sequence[int]) -> jax.Array:
    """Max-pool [B, H, W, C] over non-overlapping windows (stride = window; a last partial
    row or column of windows is dropped, as VALID pooling does).

    The values of `nn.max_pool(x, window, strides=window)`, written as a reshape + max
    because XLA:CPU's backward of reduce_window is slow. Measured on one core: the full-size
    S+A+C step (batch 32, 188 × 128, 200 kernels per path) 17.2 GB and ~16 s against 7.2 GB
    and ~11 s; the pairwise encoder's gradient (64 × 400 × 257) 10.9 s against 6.5 s. The
    gradients are equal where a window's maximum is unique; a tie (e.g. repeated padding
    frames) shares the gradient among the tied inputs instead of giving it to the first, an
    equally valid subgradient.
    """
    b, h, w, c = x.shape
    wh, ww = window
    nh, nw = h // wh, w // ww
    return x[:, :nh * wh, :nw * ww].reshape(b, nh, wh, nw, ww, c).max(axis=(2, 4))


def half_max_pool(x: jax.Array) -> jax.Array:
    """Max-pool [B, H, W, C] with window = stride = half of H and W → [B, 2, 2, C]."""
    return max_pool(x, (x.shape[1] // 2, x.shape[2] // 2))


def count_params(params) -> int:
    """Number of trainable scalars in a parameter tree."""
    return int(sum(x.size for x in jax.tree_util.tree_leaves(params)))


class ParallelCNN(nn.Module):
    """Tripathi et al. (000): four parallel Conv2D paths → 64-d embedding (+ decoder).

    Each path: Conv (VALID) with `channels` kernels of one size, ReLU, max-pool whose
    window is half the conv output, so every path yields channels × 2 × 2. The concat
    feeds two independent branches: FC + BN + ReLU (+ dropout) → embedding → logits, and,
    when `reconstruct`, FC + BN + ReLU → decoder FCs → sigmoid output of the input shape.

    Attributes:
      num_classes: C.
      kernel_sizes: (time, frequency) kernel of each path.
      channels: kernels per path (200 in the paper).
      embed_dim: embedding size (64).
      dropout: dropout rate after the FC layers (paper: tried 0.25–0.75).
      reconstruct: build the reconstruction branch (A).
      recon_dim: width of the reconstruction branch's FC + BN layer.
      decoder_dims: hidden FC layers of the decoder before the sigmoid output layer.
      bn_momentum: BatchNorm running-statistics momentum (config.model.bn_momentum).
      conv_weight_grad: `auto`, `xla` or `gemm`: how the convolutions' weight gradients
        are computed (same values up to float32 rounding; see ser_jax.conv).
    """

    num_classes: int
    kernel_sizes: Sequence[Sequence[int]] = ((4, 6), (6, 8), (8, 10), (10, 12))
    channels: int = 200
    embed_dim: int = 64
    dropout: float = 0.5
    reconstruct: bool = False
    recon_dim: int = 64
    decoder_dims: Sequence[int] = (256,)
    dtype: jnp.dtype = jnp.float32
    bn_momentum: float = 0.9
    conv_weight_grad: str = "auto"

    @nn.compact
    def __call__(self, x, *, train: bool):
        batch, frames, bins = x.shape
        h = x[..., None].astype(self.dtype)
        paths = []
        for i, (kt, kf) in enumerate(self.kernel_sizes):
            c = nn.relu(conv.Conv(self.channels, (kt, kf), weight_grad=self.conv_weight_grad, dtype=self.dtype,
                                   name=f"Conv_{i}")(h))
            if min(c.shape[1], c.shape[2]) < 2:
                raise ValueError(f"input {frames}×{bins} is smaller than kernel {kt}×{kf} allows")
            paths.append(half_max_pool(c).reshape(batch, -1))
        shared = jnp.concatenate(paths, axis=-1)

        def fc_bn_relu(width, name):
            y = nn.Dense(width, dtype=self.dtype, name=f"{name}_fc")(shared)
            y = nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum, dtype=self.dtype,
                             name=f"{name}_bn")(y)
            return nn.relu(y)

        embedding = fc_bn_relu(self.embed_dim, "embed")
        y = nn.Dropout(self.dropout, deterministic=not train)(embedding)
        logits = nn.Dense(self.num_classes, dtype=self.dtype, name="logits")(y)
        aux = {"embedding": embedding.astype(jnp.float32)}
        if self.reconstruct:
            r = nn.Dropout(self.dropout, deterministic=not train)(fc_bn_relu(self.recon_dim, "recon"))
            for i, width in enumerate(self.decoder_dims):
                r = nn.relu(nn.Dense(width, dtype=self.dtype, name=f"decoder_{i}")(r))
            r = nn.Dense(frames * bins, dtype=self.dtype, name="decoder_out")(r)
            aux["reconstruction"] = nn.sigmoid(r.astype(jnp.float32)).reshape(batch, frames, bins)
        return logits.astype(jnp.float32), aux


class ConvGRU(nn.Module):
    """Dai et al. (001): conv blocks → BiGRU(128) → FC1 (z) → FC2 (logits).

    Each conv block: Conv 3×3 SAME + BN + ReLU + max-pool 2×2. Frames past an
    utterance's length are zeroed before every conv, and the GRUs stop at the true
    (pooled) length, so padding never changes the output (in eval mode). The BiGRU is
    `ser_jax.gru.bidirectional`: flax's GRUCell math and parameters, computed faster.

    Attributes:
      num_classes: C.
      conv_channels: channels of each conv block (the talk's figure is missing).
      gru_units: units per direction (128 in the talk).
      z_dim: size of FC1's output z, on which the center loss acts.
      dropout: dropout before FC2.
      bn_momentum: BatchNorm running-statistics momentum.
      conv_weight_grad: `auto`, `xla` or `gemm` (see ser_jax.conv).
      gru_unroll: GRU steps per loop iteration, 0 for the backend's choice (see
        ser_jax.gru.resolve_unroll); the output does not depend on it.
    """

    num_classes: int
    conv_channels: Sequence[int] = (32, 64)
    gru_units: int = 128
    z_dim: int = 128
    dropout: float = 0.3
    dtype: jnp.dtype = jnp.float32
    bn_momentum: float = 0.9
    conv_weight_grad: str = "auto"
    gru_unroll: int = 0

    @nn.compact
    def __call__(self, x, lengths, *, train: bool):
        h = x[..., None].astype(self.dtype)
        lengths = lengths.astype(jnp.int32)
        for channels in self.conv_channels:
            valid = jnp.arange(h.shape[1])[None, :] < lengths[:, None]
            h = h * valid[:, :, None, None].astype(h.dtype)
            h = conv.Conv(channels, (3, 3), padding="SAME", weight_grad=self.conv_weight_grad,
                          dtype=self.dtype)(h)
            h = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum,
                                     dtype=self.dtype)(h))
            h = max_pool(h, (2, 2))
            lengths = jnp.maximum(lengths // 2, 1)
        seq = h.reshape(h.shape[0], h.shape[1], -1)
        last_fwd, last_bwd = gru.bidirectional(seq, lengths, self.gru_units, dtype=self.dtype,
                                               unroll=self.gru_unroll)
        state = jnp.concatenate([last_fwd, last_bwd], axis=-1)
        z = nn.Dense(self.z_dim, dtype=self.dtype, name="fc1")(state)
        y = nn.Dropout(self.dropout, deterministic=not train)(nn.relu(z))
        logits = nn.Dense(self.num_classes, dtype=self.dtype, name="fc2")(y)
        return logits.astype(jnp.float32), {"embedding": z.astype(jnp.float32)}


class SattEncoder(nn.Module):
    """Lian et al. (002) audio encoder: 5 × (Conv + BN + ReLU + max-pool) + FC → 256-d.

    Attributes:
      conv_channels: channels of the five conv layers (Satt-style; the figure is missing).
      kernel: conv kernel (time, frequency).
      embed_dim: output vector size (256 in the paper).
      bn_momentum: BatchNorm running-statistics momentum.
      conv_weight_grad: `auto`, `xla` or `gemm` (see ser_jax.conv).
    """

    conv_channels: Sequence[int] = (16, 32, 32, 64, 64)
    kernel: Sequence[int] = (3, 3)
    embed_dim: int = 256
    dtype: jnp.dtype = jnp.float32
    bn_momentum: float = 0.9
    conv_weight_grad: str = "auto"

    @nn.compact
    def __call__(self, x, *, train: bool):
        h = x[..., None].astype(self.dtype)
        for channels in self.conv_channels:
            h = conv.Conv(channels, tuple(self.kernel), padding="SAME", weight_grad=self.conv_weight_grad,
                          dtype=self.dtype)(h)
            h = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum,
                                     dtype=self.dtype)(h))
            h = max_pool(h, (2, 2))
        return nn.Dense(self.embed_dim, dtype=self.dtype)(h.reshape(h.shape[0], -1))


class PairwiseModel(nn.Module):
    """Lian et al. (002): shared encoder; discriminator concat(512) → FC128 + ReLU → 2.

    `__call__(x1, x2)` gives the pair logits (class 1 = same emotion) with both vectors in
    aux (`embedding`, `embedding2`). `classify(x)` is the "traditional" end-to-end
    baseline: the same encoder with an FC + softmax head over the emotion classes.

    Attributes:
      num_classes: emotion classes, for the baseline head.
      encoder: the shared audio encoder.
      hidden: discriminator hidden size (128).
    """

    num_classes: int
    encoder: SattEncoder = SattEncoder()
    hidden: int = 128
    dtype: jnp.dtype = jnp.float32

    def setup(self):
        self.disc_hidden = nn.Dense(self.hidden, dtype=self.dtype)
        self.disc_out = nn.Dense(2, dtype=self.dtype)
        self.class_head = nn.Dense(self.num_classes, dtype=self.dtype)

    def __call__(self, x1, x2, *, train: bool):
        both = self.encoder(jnp.concatenate([x1, x2], axis=0), train=train)  # one pass: shared BN
        e1, e2 = jnp.split(both, 2, axis=0)
        h = nn.relu(self.disc_hidden(jnp.concatenate([e1, e2], axis=-1)))
        logits = self.disc_out(h)
        return logits.astype(jnp.float32), {"embedding": e1.astype(jnp.float32),
                                            "embedding2": e2.astype(jnp.float32)}

    def embed(self, x, *, train: bool):
        """The 256-d vector of each utterance (what the SVM is trained on)."""
        return self.encoder(x, train=train).astype(jnp.float32)

    def classify(self, x, *, train: bool):
        e = self.encoder(x, train=train)
        return self.class_head(e).astype(jnp.float32), {"embedding": e.astype(jnp.float32)}


def _check_setting(key: str, check) -> None:
    """Runs a module's own check of a setting now, naming the config key, rather than deep
    inside the first traced step."""
    try:
        check()
    except ValueError as err:
        raise SerJaxError(f"--config.{key}: {err}") from None


def from_config(model_config, num_classes: int, *, reconstruct: bool = False) -> tuple[nn.Module, int]:
    """The model `config.model` names, and its embedding size.

    Args:
      reconstruct: give the parallel CNN its decoder (when the loss has a λ2 term).
    """
    dtype = jnp.dtype(model_config.dtype)
    name = model_config.name
    # Runs saved before the key moved to config.model kept it under parallel_cnn.
    weight_grad = model_config.get("conv_weight_grad", model_config.parallel_cnn.get("conv_weight_grad", "auto"))
    _check_setting("model.conv_weight_grad", lambda: conv.resolve(weight_grad))
    if name == "parallel_cnn":
        c = model_config.parallel_cnn
        module = ParallelCNN(num_classes=num_classes, kernel_sizes=tuple(map(tuple, c.kernel_sizes)),
                             channels=c.channels, embed_dim=c.embed_dim, dropout=c.dropout,
                             recon_dim=c.recon_dim, decoder_dims=tuple(c.decoder_dims),
                             reconstruct=reconstruct, bn_momentum=model_config.bn_momentum,
                             conv_weight_grad=weight_grad, dtype=dtype)
        return module, c.embed_dim
    if name == "conv_gru":
        c = model_config.conv_gru
        _check_setting("model.conv_gru.unroll", lambda: gru.resolve_unroll(c.get("unroll", 0), 1))
        module = ConvGRU(num_classes=num_classes, conv_channels=tuple(c.conv_channels),
                         gru_units=c.gru_units, z_dim=c.z_dim, dropout=c.dropout,
                         bn_momentum=model_config.bn_momentum, conv_weight_grad=weight_grad,
                         gru_unroll=c.get("unroll", 0), dtype=dtype)
        return module, c.z_dim
    if name == "pairwise":
        c = model_config.pairwise
        encoder = SattEncoder(conv_channels=tuple(c.conv_channels), kernel=tuple(c.kernel),
                              embed_dim=c.embed_dim, bn_momentum=model_config.bn_momentum,
                              conv_weight_grad=weight_grad, dtype=dtype)
        return PairwiseModel(num_classes=num_classes, encoder=encoder, hidden=c.hidden, dtype=dtype), c.embed_dim
    raise ValueError(f"unknown model {name!r}: parallel_cnn | conv_gru | pairwise")


class PairwiseClassifier(nn.Module):
    """A PairwiseModel applied through `classify`: Lian et al.'s end-to-end baseline, with the
    call signature of the other classifiers."""

    inner: PairwiseModel

    @nn.compact
    def __call__(self, x, *, train: bool):
        return self.inner.classify(x, train=train)


def for_run(config, num_classes: int) -> tuple[nn.Module, int]:
    """The module a run trains (`config.model`, decoder when λ2 > 0, the baseline adapter for
    `model.name=pairwise` with `train.task=classify`) and its embedding size."""
    module, embed_dim = from_config(config.model, num_classes, reconstruct=bool(config.loss.recon_weight))
    if config.model.name == "pairwise" and config.train.task != "pairwise":
        module = PairwiseClassifier(module)
    return module, embed_dim


def describe_size(model_config, num_classes: int, frames: int, bins: int, *, reconstruct: bool) -> int:
    """Parameter count of the configured model for inputs of frames × bins."""
    module, _ = from_config(model_config, num_classes, reconstruct=reconstruct)
    x = jnp.zeros((1, frames, bins), jnp.float32)
    args = (x, x) if isinstance(module, PairwiseModel) else (
        (x, jnp.array([frames])) if isinstance(module, ConvGRU) else (x,))
    shapes = jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), *args, train=False))
    return count_params(shapes["params"])
