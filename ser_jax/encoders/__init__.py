"""Encoders: `config.model.encoder` names one; `config.model.<name>` holds its sizes.

A new encoder is one module here (a `base.Encoder` subclass with `from_config` and a
`default_config()`) plus its line in `ENCODERS`.
"""

from ser_jax.encoders import conv_gru, identity, parallel_cnn, satt
from ser_jax.encoders.base import Encoded, Encoder

# name → (encoder class, default config of its sizes)
ENCODERS = {
    "parallel_cnn": (parallel_cnn.ParallelCNN, parallel_cnn.default_config),
    "conv_gru": (conv_gru.ConvGRU, conv_gru.default_config),
    "satt": (satt.Satt, satt.default_config),
    "identity": (identity.Identity, identity.default_config),  # no network: an SVM on the features
}

__all__ = ["ENCODERS", "Encoded", "Encoder"]
