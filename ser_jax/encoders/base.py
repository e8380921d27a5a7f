"""What an encoder is: a batch of features (with lengths) → an utterance embedding.

An encoder is a frozen dataclass of its sizes, called inside the `ser_jax.method.Network`
module, so its layers are that module's children (the parameter names runs have always had).
It declares what it needs and gives, so a method that cannot work is refused when the
config is read (`ser_jax.method.check`), never at trace time:

- `takes_lengths`: it reads per-utterance lengths and ignores the padding past them;
- `needs_fixed_length`: its shapes depend on the number of frames (fixed-length features only);
- `gives_trunk`: `Encoded.trunk` holds shared features a reconstruction decoder can read;
- `trainable`: it has parameters to learn (False: `identity`, where an SVM on the features
  is the whole method and no training signal may be on);
- `head_name`, `head_dropout`: the classifier layer's name (kept from the first release, so
  its checkpoints load) and the dropout before it.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp


class Encoded(NamedTuple):
    """An encoder's outputs for a batch of B utterances, in the compute dtype.

    Attributes:
      embedding: [B, D], where center loss, the pairwise task and the SVM act.
      head_input: [B, K], what a classifier head reads.
      trunk: [B, K'] shared features a decoder reads, or None.
    """

    embedding: jax.Array
    head_input: jax.Array
    trunk: jax.Array | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Encoder:
    """Fields every encoder has.

    Attributes:
      dtype: compute dtype (parameters stay float32).
      conv_dtype: compute dtype of the convolution stack (convolutions, their BatchNorms,
        pools), None for `dtype` (ser_jax.method.conv_dtype resolves the config's `auto`).
      bn_momentum: BatchNorm running-statistics momentum.
      conv_weight_grad: `auto`, `xla`, `gemm` or, where `pools_convs`, `pooled` (see ser_jax.conv).
    """

    takes_lengths: ClassVar[bool] = False
    needs_fixed_length: ClassVar[bool] = False
    gives_trunk: ClassVar[bool] = False
    pools_convs: ClassVar[bool] = False  # a convolution of it is max-pooled whole: `pooled` applies (conv, conv_block)
    trainable: ClassVar[bool] = True
    head_name: ClassVar[str] = "logits"

    dtype: object = jnp.float32
    conv_dtype: object = None
    bn_momentum: float = 0.9
    conv_weight_grad: str = "auto"

    @property
    def embed_dim(self) -> int:
        raise NotImplementedError

    @property
    def conv_compute_dtype(self):
        return self.dtype if self.conv_dtype is None else self.conv_dtype

    @property
    def head_dropout(self) -> float:
        return 0.0

    def check(self) -> None:
        """Raises ValueError naming the field of a setting this encoder cannot take."""

    def __call__(self, x: jax.Array, lengths: jax.Array, *, train: bool) -> Encoded:
        raise NotImplementedError
