"""Speech-emotion corpora as TFDS builders (EmoDB, IEMOCAP, CSV manifest)."""

from ser_jax.corpora.corpus import CORPORA, Corpus, data_folder, load_corpus, open_builder

__all__ = ["CORPORA", "Corpus", "data_folder", "load_corpus", "open_builder"]
