"""ser_jax entry point: the only file that defines flags or reads the environment.

    python run.py --config configs/sac.py --workdir workdir/sac            # train + evaluate
    python run.py --config configs/sac.py --workdir workdir/sac --mode=describe
    python run.py --config configs/sac.py --workdir workdir/sac --mode=predict \
        --audio=a.wav,b.flac --output=pred.json                           # trained run → probabilities
    python run.py --config configs/sac.py --workdir workdir/sac --mode=embed \
        --audio=a.wav,b.flac --output=emb.npz                             # trained run → embeddings
    python run.py --config configs/sweeps/table1.py --workdir workdir/table1 --mode=sweep
    python run.py --config configs/sac.py --config.data.corpus=manifest \
        --config.data.manifest=my_corpus.csv --mode=describe

Environment: SER_JAX_DATA names a folder holding `emodb/` and/or
`IEMOCAP_full_release/`, used when --config.data.root is not given; SER_JAX_CACHE
overrides the cache folder (default ~/.cache/ser_jax).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from absl import app, flags, logging
from ml_collections import config_flags

from ser_jax.errors import SerJaxError

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file (configs/*.py).",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Folder for this run's outputs.")
_MODE = flags.DEFINE_enum("mode", "train", ["train", "describe", "predict", "embed", "sweep", "status"],
                          "train: train and evaluate every fold (resumes if WORKDIR holds a run); "
                          "describe: report corpus, folds, feature cache and model size; "
                          "predict / embed: class probabilities / embeddings of --audio files with "
                          "the run in WORKDIR (its own config.json is used); "
                          "sweep: every variant × seed of a configs/sweeps/ file, then one comparison table; "
                          "status: how far the run in WORKDIR (or each run of a sweep) got, training nothing.")
_AUDIO = flags.DEFINE_list("audio", [], "predict/embed: audio files (any format, rate, channels, length).")
_OUTPUT = flags.DEFINE_string("output", None, "predict: JSON file to write; embed: .npz file to write.")
_DISTRIBUTED = flags.DEFINE_bool("distributed", False,
                                  "call jax.distributed.initialize() first (multi-host training: run the "
                                  "same command on every host). On TPU, Slurm and Open MPI the cluster is "
                                  "detected; elsewhere give the three flags below.")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None, "--distributed: host:port of process 0.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "--distributed: number of processes (hosts).")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "--distributed: this process's rank, 0-based.")
_FOLDS = flags.DEFINE_list("folds", [], "predict/embed: fold indices whose models to use (default: all).")
_HUGE_PAGES = flags.DEFINE_bool("huge_pages", True,
                                "start again once with glibc's malloc using transparent huge pages "
                                "(GLIBC_TUNABLES=glibc.malloc.hugetlb=1) where glibc and the kernel allow "
                                "it: fewer page faults on XLA's large buffers (ser_jax/malloc.py)")
_KEEP_FREED = flags.DEFINE_bool("keep_freed_memory", True,
                                "start again once with glibc's malloc set to keep freed memory (one arena, "
                                "no trimming on its own; while a fold's epochs run, no mmap; handed back "
                                "after them; ser_jax/malloc.py): each step's large buffers are reused, not "
                                "handed back to the kernel and zeroed again every step")
flags.mark_flags_as_required(["config"])

def resolve_paths(config, environ) -> None:
    """Fills data.root and cache_dir from the environment where the config leaves them empty."""
    from ser_jax.corpora import data_folder

    with config.unlocked():
        data_root = environ.get("SER_JAX_DATA", "")
        folder = data_folder(config.data.corpus)
        if not config.data.root and data_root and folder:
            candidate = Path(data_root).expanduser().resolve() / folder  # absolute: the run's paths hold from any folder
            if candidate.is_dir():
                config.data.root = str(candidate)
        if not config.cache_dir:
            config.cache_dir = environ.get("SER_JAX_CACHE") or str(Path.home() / ".cache" / "ser_jax")


def _compilation_cache(cache_dir: str, environ) -> None:
    """Keeps XLA's compiled steps on disk under the cache root: every fold after the first
    (same shapes, same program) and every later run loads them instead of compiling again.
    $JAX_COMPILATION_CACHE_DIR, if set, wins."""
    import jax

    if not environ.get("JAX_COMPILATION_CACHE_DIR"):
        jax.config.update("jax_compilation_cache_dir", str(Path(cache_dir).expanduser() / "xla"))


def _restart_with_malloc_settings() -> None:
    """Replaces this process by the same command with glibc malloc's tunables set, if they help here."""
    from ser_jax import malloc

    env = malloc.for_this_machine(dict(os.environ), _HUGE_PAGES.value, _KEEP_FREED.value)
    if env is not None and sys.executable:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, *sys.argv], env)


def main(argv) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    _restart_with_malloc_settings()
    logging.set_verbosity(logging.WARNING)  # TFDS logs every shard it writes at INFO
    if _DISTRIBUTED.value:
        import jax

        jax.distributed.initialize(coordinator_address=_COORDINATOR.value, num_processes=_NUM_PROCESSES.value,
                                   process_id=_PROCESS_ID.value)
    config = _CONFIG.value
    is_sweep = "variants" in config
    if is_sweep != (_MODE.value == "sweep") and _MODE.value != "status":
        raise app.UsageError("--mode=sweep takes a configs/sweeps/ file, the other modes an experiment config")
    experiment = config.base if is_sweep else config
    resolve_paths(experiment, os.environ)
    _compilation_cache(experiment.cache_dir, os.environ)
    from ser_jax import describe, method, status, sweep, train  # after flag parsing: keeps --help fast

    try:
        if not is_sweep and _MODE.value in ("train", "describe"):
            method.from_config(config)  # an impossible method stops here, naming its keys
        if _MODE.value == "describe":
            describe.describe(config, workdir=_WORKDIR.value)
        elif _MODE.value == "status":
            if not _WORKDIR.value:
                raise app.UsageError("--mode=status needs --workdir (the run's, or the sweep's)")
            status.report(config, _WORKDIR.value)
        elif _MODE.value == "sweep":
            if not _WORKDIR.value:
                raise app.UsageError("--mode=sweep needs --workdir (where the runs and the comparison go)")
            sweep.run_sweep(config, _WORKDIR.value)
        elif _MODE.value in ("predict", "embed"):
            failed = _infer(_MODE.value)
            sys.exit(1 if failed == len(_AUDIO.value) else 0)
        else:
            if not _WORKDIR.value:
                raise app.UsageError("--mode=train needs --workdir (where checkpoints and results go)")
            train.train_and_evaluate(config, _WORKDIR.value)
    except SerJaxError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


def _infer(mode: str) -> int:
    """Runs predict or embed on --audio; prints one line per file; returns the failures."""
    import json

    import numpy as np

    from ser_jax import predict

    if not _WORKDIR.value or not _AUDIO.value:
        raise app.UsageError(f"--mode={mode} needs --workdir (a trained run) and --audio=FILE[,FILE...]")
    if not all(k.strip().isdigit() for k in _FOLDS.value):
        raise SerJaxError(f"--folds={','.join(_FOLDS.value)}: give fold indices, 0-based whole numbers (e.g. --folds=0,3)")
    if _OUTPUT.value and not Path(_OUTPUT.value).expanduser().resolve().parent.is_dir():
        raise SerJaxError(f"--output={_OUTPUT.value}: its folder does not exist; create it first")
    run = predict.load_run(_WORKDIR.value, [int(k) for k in _FOLDS.value] or None)
    print(f"{len(run.folds)} fold model(s) of {_WORKDIR.value}: {', '.join(f.name for f in run.folds)}")
    if mode == "predict":
        entries = predict.predict(run, _AUDIO.value)
        for e in entries:
            if "error" in e:
                print(f"{e['path']}: error: {e['error']}")
            else:
                probs = ", ".join(f"{c} {p:.2f}" for c, p in e["probabilities"].items())
                print(f"{e['path']}: {e['label']}  ({probs})")
        if _OUTPUT.value:
            Path(_OUTPUT.value).write_text(json.dumps(entries, indent=2, allow_nan=False))  # valid JSON or an error
            print(f"written: {_OUTPUT.value}")
        return sum("error" in e for e in entries)
    done, vectors, errors = predict.embed(run, _AUDIO.value)
    for path, message in errors.items():
        print(f"{path}: error: {message}")
    print(f"embedded {len(done)} file(s): array [files, folds, dim] = {list(vectors.shape)}")
    if _OUTPUT.value:
        np.savez_compressed(_OUTPUT.value, paths=np.asarray(done), embeddings=vectors,
                            folds=np.asarray([f.name for f in run.folds]),
                            failed_paths=np.asarray(list(errors)), errors=np.asarray(list(errors.values())))
        print(f"written: {_OUTPUT.value}")
    return len(errors)


def _parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing, with a bad --config override (a misspelt key, a value of the wrong
    type) as one line naming it instead of a traceback through ml_collections."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as err:
        print(f"error: {err}\nPass --helpfull to see the flags.", file=sys.stderr)
    except (AttributeError, KeyError, TypeError, ValueError) as err:
        detail = " ".join(str(err).replace("\\n", " ").replace("\\", "").replace("'", "").split())
        overrides = [a.split("=")[0] for a in argv[1:] if a.startswith("--config.")]
        print(f"error: a --config override cannot be applied ({detail}); overrides given: {', '.join(overrides)}. "
              "Every key is listed, with a comment, in configs/base.py", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
    app.run(main, flags_parser=_parse_flags)
