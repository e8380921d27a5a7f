"""Shared fixtures: the real EmoDB copy (via SER_JAX_DATA) and a session cache folder.

In CI (CI=true) a missing EmoDB is a failure, not a skip.
"""

import os
from pathlib import Path

import pytest

from configs import base
from ser_jax.corpora import load_corpus


@pytest.fixture(scope="session")
def emodb_root() -> Path:
    data = os.environ.get("SER_JAX_DATA", "")
    root = Path(data).expanduser().resolve() / "emodb" if data else None  # absolute: tests write its paths into CSVs elsewhere
    if root is None or not (root / "wav").is_dir():
        message = f"EmoDB not found: set SER_JAX_DATA to the folder holding emodb/wav (got {data!r})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return root


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ser_jax_cache")


@pytest.fixture(scope="session")
def emodb_config(emodb_root, cache_dir):
    config = base.get_config()
    config.data.root = str(emodb_root)
    config.cache_dir = str(cache_dir)
    return config


@pytest.fixture(scope="session")
def emodb(emodb_config):
    return load_corpus(emodb_config.data, emodb_config.cache_dir)
