"""Training signals: `config.signals.<name>` holds each one's settings; a weight > 0 turns it on.

Order matters: heads are built, and loss terms added, in this order. A new signal is one
module here (a `base.Signal` subclass with `from_config` and a `default_config()`) plus its
line in `SIGNALS`.
"""

from ser_jax.signals import center, pairwise, reconstruction, softmax
from ser_jax.signals.base import Signal

# name → (signal class, default config of its settings)
SIGNALS = {
    "softmax": (softmax.Softmax, softmax.default_config),
    "center": (center.Center, center.default_config),
    "reconstruction": (reconstruction.Reconstruction, reconstruction.default_config),
    "pairwise": (pairwise.Pairwise, pairwise.default_config),
}

__all__ = ["SIGNALS", "Signal"]
