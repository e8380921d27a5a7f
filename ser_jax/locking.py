"""File locks (flock) that two processes on one folder take: the run folder's and a corpus
build's. The lock file is opened without following a symbolic link, so a link planted at its
name cannot make ser_jax create or truncate a file elsewhere."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path

from ser_jax.errors import SerJaxError


class Busy(SerJaxError):
    """Another process holds the lock."""


@contextlib.contextmanager
def exclusive(path, *, wait: bool):
    """Holds an exclusive lock on `path` (created if absent) for the `with` block.

    Args:
      wait: block until the lock is free; False → raise `Busy` at once.

    Raises:
      SerJaxError: `path` is a symbolic link. Busy: held elsewhere and wait is False.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise SerJaxError(f"{path} is a symbolic link: ser_jax's lock files are never followed; delete it") from None
        raise
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise Busy(f"{path} is locked by another process") from None
        yield
    finally:
        os.close(fd)  # closing releases the lock; the OS drops it when a process dies
