"""Orbax checkpoints of a fold's whole training state; restore-or-init.

A checkpoint holds the TrainState's arrays (step, params, batch_stats, the signals'
state such as class centers, opt_state), the best-on-validation variables so far and the progress counters, so a
killed run resumes at the last finished epoch and ends exactly as an uninterrupted one.
Orbax writes to a temporary folder and renames it: a crash never leaves a checkpoint
that looks complete.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp

from ser_jax import steps
from ser_jax.errors import SerJaxError


def state_arrays(state: steps.TrainState) -> dict:
    """The saved part of a TrainState (its static apply_fn and tx are rebuilt from config)."""
    arrays = {"step": state.step, "params": state.params, "batch_stats": state.batch_stats,
              "signals": state.signals, "opt_state": state.opt_state}
    if state.ema:  # (only with weight averaging on: checkpoints of runs without it keep their layout)
        arrays["ema"] = state.ema
    return arrays


_DIGEST = "sha256"
_DIGEST_SHAPE = np.zeros(64, np.uint8)  # a hex SHA-256 as bytes: the shape Orbax restores into


def _digest_array(tree) -> np.ndarray:
    return np.frombuffer(digest(tree).encode(), np.uint8).copy()


def _first_line(err: Exception) -> str:
    """`Type: first line of the message` (Orbax and TensorStore messages run to many lines)."""
    return f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"


class FoldCheckpoints:
    """One Orbax manager per fold folder, keeping the latest epoch only."""

    def __init__(self, directory):
        self._directory = Path(directory).absolute()
        self._manager = ocp.CheckpointManager(
            Path(directory).absolute(),
            options=ocp.CheckpointManagerOptions(max_to_keep=1, create=True))

    def save(self, epoch: int, tree: dict) -> None:
        """Saves `tree` (arrays and numpy scalars only) as epoch `epoch`, with its `digest`."""
        tree = jax.tree_util.tree_map(lambda x: np.asarray(x) if np.isscalar(x) else x, tree)
        self._manager.save(epoch, args=ocp.args.StandardSave({"tree": tree, _DIGEST: _digest_array(tree)}))

    def restore(self, template: dict) -> dict | None:
        """The latest checkpoint in `template`'s structure, or None if there is none.

        Raises:
          SerJaxError: the checkpoint cannot be read or holds other bytes than were saved.
        """
        step = self._manager.latest_step()
        if step is None:
            return None
        template = jax.tree_util.tree_map(lambda x: np.asarray(x) if np.isscalar(x) else x, template)
        abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct,
                                          {"tree": template, _DIGEST: _DIGEST_SHAPE})
        fix = f"delete {self._directory} to restart this fold from its first epoch"
        try:
            restored = self._manager.restore(step, args=ocp.args.StandardRestore(abstract))
        except Exception as err:  # noqa: BLE001 (Orbax/TensorStore errors of damaged or foreign files vary)
            raise SerJaxError(f"checkpoint {self._directory}/{step} cannot be restored ({_first_line(err)}): {fix}") from None
        # Orbax returns optax's named tuples as plain tuples: rebuild the template's structure.
        tree = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(template),
                                            jax.tree_util.tree_leaves(restored["tree"]))
        if not np.array_equal(np.asarray(restored[_DIGEST]), _digest_array(tree)):
            raise SerJaxError(f"checkpoint {self._directory}/{step} is damaged (its arrays differ from the checksum "
                              f"saved with them): {fix}")
        return tree

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()


def save_model(path, variables: dict) -> None:
    """Writes a fold's selected variables (params, batch_stats, signals' state) for inference."""
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(Path(path).absolute(), variables, force=True)
    checkpointer.wait_until_finished()


def digest(variables: dict) -> str:
    """SHA-256 over every array's dtype, shape and bytes, in tree order: written beside a saved
    model (model.json) and compared when it is read back, so damaged bytes are found, not used."""
    h = hashlib.sha256()
    for path, leaf in sorted(jax.tree_util.tree_leaves_with_path(variables), key=lambda kv: jax.tree_util.keystr(kv[0])):
        if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:  # replicated over hosts: any copy
            leaf = leaf.addressable_data(0)
        array = np.ascontiguousarray(np.asarray(leaf))
        h.update(f"{jax.tree_util.keystr(path)}:{array.dtype.str}:{array.shape}".encode())
        h.update(array.tobytes())
    return h.hexdigest()


def load_model(path, expected_digest: str = "") -> dict:
    """The variables `save_model` wrote, as numpy arrays in nested dicts.

    Args:
      expected_digest: `digest` of the variables when they were saved ("" : not checked, for
        runs written before it was recorded).

    Raises:
      SerJaxError: the files cannot be read, or hold other bytes than were saved.
    """
    path = Path(path).absolute()
    fix = f"retrain that fold: delete {path.parent} and run train again on the same --workdir"
    try:
        variables = ocp.StandardCheckpointer().restore(path)
    except Exception as err:  # noqa: BLE001 (Orbax, TensorStore and JSON errors of damaged files vary)
        raise SerJaxError(f"{path} cannot be read ({_first_line(err)}): {fix}") from None
    if expected_digest and digest(variables) != expected_digest:
        raise SerJaxError(f"{path} is damaged (its arrays differ from the checksum in model.json): {fix}")
    return variables
