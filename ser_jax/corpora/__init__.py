"""Speech-emotion corpora as TFDS builders (EmoDB, IEMOCAP, CSV manifest)."""

from ser_jax.corpora.corpus import CORPORA, Corpus, load_corpus, open_builder

__all__ = ["CORPORA", "Corpus", "load_corpus", "open_builder"]
