"""ser_jax: discriminative speech-emotion embeddings in JAX/Flax."""

__version__ = "0.1.0"
