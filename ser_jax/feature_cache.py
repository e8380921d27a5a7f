"""The only code that writes feature arrays.

Features of every record of a corpus build are computed once per (corpus build,
feature parameters, librosa version, and opensmile version for eGeMAPS) and stored under
`cache_dir/features/<corpus>-<key>/`:

- fixed length: `features.npy` float32 [num_records, frames, bins];
- variable length: `frames.npy` float32 [total_frames, bins] and `offsets.npy`
  int64 [num_records + 1];
- always `lengths.npy` int64 [num_records], `checksums.npy` uint32 [num_records] (CRC-32 of
  each record's bytes) and `meta.json` (written last).

An entry is verified whenever it is opened: every file present and whole, every record's
bytes matching its checksum (2–3 GB/s: benchmarks/cache_verify.py). A damaged entry (bytes
overwritten in place, a NaN written into it, a truncated, empty or missing file) is deleted
and rebuilt, and the rebuild is said, never used. Features must be finite when computed.

Extraction runs in worker processes (spawned, so no JAX state is forked) with a
progress bar. Results go to a temporary folder renamed into place only when complete,
so a killed run never leaves a half-written entry that looks finished. Arrays are
memory-mapped on read: a corpus larger than RAM still trains.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import dataclasses
import hashlib
import importlib.metadata
import json
import multiprocessing
import os
import shutil
import sys
import uuid
import zlib
from pathlib import Path

import librosa
import numpy as np
import threadpoolctl
from tqdm.auto import tqdm

from ser_jax import audio, features
from ser_jax.errors import SerJaxError

FORMAT_VERSION = 2  # 2: per-record checksums
PARALLEL_MIN_RECORDS = 2000  # EmoDB (535): 6 s serial vs 7.4 s with 2 spawned workers
_CHUNK = 16  # utterances per worker task: amortises inter-process transfer


@dataclasses.dataclass(frozen=True, eq=False)
class FeatureStore:
    """Memory-mapped features of every record of one corpus build.

    Attributes:
      path: cache entry folder.
      params: the feature parameters.
      lengths: int64 [num_records] frames per record.
      data: [num_records, frames, bins] (fixed) or [total_frames, bins] (variable), read-only.
      offsets: int64 [num_records + 1] for variable length, else None.
      computed: whether this call extracted the features (False: read from cache).
    """

    path: Path
    params: features.FeatureParams
    lengths: np.ndarray
    data: np.ndarray
    offsets: np.ndarray | None
    computed: bool

    def __len__(self) -> int:
        return int(self.lengths.shape[0])

    @property
    def num_bins(self) -> int:
        return int(self.data.shape[-1])

    def get(self, record: int) -> np.ndarray:
        """float32 [frames, bins] features of one record (a view into the memory map)."""
        if self.offsets is None:
            return self.data[record]
        return self.data[self.offsets[record]:self.offsets[record + 1]]


def cache_key(corpus_fingerprint: str, params: features.FeatureParams) -> str:
    """Hash of everything that determines the feature values."""
    payload = {"corpus": corpus_fingerprint, "params": dataclasses.asdict(params),
               "format": FORMAT_VERSION, "librosa": librosa.__version__}
    if params.kind == "egemaps":  # (other kinds' keys stay as they were: their caches stay valid)
        payload["opensmile"] = importlib.metadata.version("opensmile")
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


def entry_dir(cache_dir, corpus, params: features.FeatureParams) -> Path:
    """Where the features of `corpus` with `params` live (existing or not)."""
    slug = corpus.name.replace("/", "-")
    return Path(cache_dir).expanduser() / "features" / f"{slug}-{cache_key(corpus.fingerprint, params)}"


def load_or_compute(corpus, params: features.FeatureParams, cache_dir, *,
                    workers: int = 0, progress: bool = True, out=None) -> FeatureStore:
    """Returns the cached features of `corpus`, computing them first if needed.

    Args:
      corpus: a `ser_jax.corpora.Corpus`.
      params: feature parameters.
      cache_dir: root of ser_jax's caches.
      workers: extraction processes; 1 → in this process; 0 → automatic: in this process
        below `PARALLEL_MIN_RECORDS` records (spawning workers costs seconds), else one
        per CPU core.
      progress: show a progress bar.
      out: where the line saying a damaged entry was rebuilt goes (default: stderr).
    """
    final = entry_dir(cache_dir, corpus, params)
    _remove_abandoned(final.parent)
    if (final / "meta.json").is_file():
        try:
            return _open(final, params, computed=False, expected=corpus.num_records)
        except DamagedEntry as err:
            (out or (lambda line: print(line, file=sys.stderr)))(
                f"feature cache entry {final} is damaged ({err}): deleted, computing it again")
            shutil.rmtree(final, ignore_errors=True)
    if not workers:
        workers = 1 if corpus.num_records < PARALLEL_MIN_RECORDS else os.cpu_count() or 1
    _compute(corpus, params, final, workers, progress)
    return _open(final, params, computed=True, expected=corpus.num_records)


class DamagedEntry(Exception):
    """A cache entry whose files are missing, cut short or hold other bytes than were written."""


def _open(path: Path, params, computed: bool, expected: int) -> FeatureStore:
    try:
        lengths = np.load(path / "lengths.npy")
        checksums = np.load(path / "checksums.npy")
        if params.fixed_length:
            data, offsets = np.load(path / "features.npy", mmap_mode="r"), None
        else:
            data, offsets = np.load(path / "frames.npy", mmap_mode="r"), np.load(path / "offsets.npy")
    except (OSError, ValueError, EOFError) as err:  # missing, empty or truncated .npy
        raise DamagedEntry(f"{type(err).__name__}: {err}") from None
    store = FeatureStore(path=path, params=params, lengths=lengths, data=data, offsets=offsets, computed=computed)
    if len(lengths) != expected or checksums.shape != (expected,):
        raise DamagedEntry(f"{len(lengths)} records and {checksums.size} checksums, the corpus has {expected}")
    if offsets is not None and (offsets.shape != (expected + 1,) or offsets[-1] != data.shape[0]):
        raise DamagedEntry("offsets.npy does not match frames.npy")
    for r in range(expected if not computed else 0):  # (an entry just written was checksummed as it was written)
        if zlib.crc32(np.ascontiguousarray(store.get(r))) != checksums[r]:
            raise DamagedEntry(f"record {r} differs from its checksum")
    return store


def _remove_abandoned(folder: Path) -> None:
    """Deletes `.tmp-*` folders of feature builds whose process is gone (killed mid-build)."""
    for tmp in folder.glob(".tmp-*"):
        pid = tmp.name.rsplit("-", 2)[-2] if tmp.name.count("-") >= 3 else ""
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _compute(corpus, params, final: Path, workers: int, progress: bool) -> None:
    records = corpus.records
    n = len(records)
    lengths = np.asarray([features.num_frames(s, params) for s in corpus.record_num_samples], np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp-{final.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    checksums = np.zeros(n, np.uint32)
    tmp.mkdir()
    try:
        if params.fixed_length:
            out = np.lib.format.open_memmap(tmp / "features.npy", mode="w+", dtype=np.float32,
                                            shape=(n, int(lengths[0]), params.num_bins))
        else:
            out = np.lib.format.open_memmap(tmp / "frames.npy", mode="w+", dtype=np.float32,
                                            shape=(int(offsets[-1]), params.num_bins))
            np.save(tmp / "offsets.npy", offsets)
        bar = tqdm(total=n, desc=f"features {corpus.name} ({params.name})", unit="utt",
                   disable=not progress)
        for start, feats in _extract_all(records, params, workers):
            for j, f in enumerate(feats):
                r = start + j
                if f.shape[0] != lengths[r]:
                    raise RuntimeError(f"record {r}: {f.shape[0]} frames, expected {lengths[r]}")
                f = np.ascontiguousarray(f, np.float32)
                if not np.isfinite(f).all():
                    path = records[r]["path"]
                    raise SerJaxError(f"features of {path.decode() if isinstance(path, bytes) else path} "
                                      "hold non-finite values: remove the file from the corpus")
                checksums[r] = zlib.crc32(f)
                if params.fixed_length:
                    out[r] = f
                else:
                    out[offsets[r]:offsets[r + 1]] = f
            bar.update(len(feats))
        bar.close()
        out.flush()
        del out
        np.save(tmp / "lengths.npy", lengths)
        np.save(tmp / "checksums.npy", checksums)
        meta = {"corpus": corpus.name, "corpus_fingerprint": corpus.fingerprint,
                "params": dataclasses.asdict(params), "num_records": n,
                "librosa": librosa.__version__, "format": FORMAT_VERSION}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
        try:
            os.rename(tmp, final)
        except OSError:  # another process finished the same entry first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _init_worker() -> None:
    # One BLAS thread per process: the processes already use every core, and nested
    # threads oversubscribe them (measured 2x slower on 2 cores).
    threadpoolctl.threadpool_limits(1)


def _extract_chunk(waveforms_pcm: list, params: features.FeatureParams) -> list:
    return [features.extract(audio.to_float(pcm), params) for pcm in waveforms_pcm]


def _extract_all(records, params, workers: int):
    """Yields (first record index, [features ...]) chunk by chunk, in record order."""
    n = len(records)
    starts = range(0, n, _CHUNK)

    def chunk(start):
        return [records[i]["audio"] for i in range(start, min(start + _CHUNK, n))]

    if workers <= 1:
        for start in starts:
            yield start, _extract_chunk(chunk(start), params)
        return
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                initializer=_init_worker) as pool:
        pending = collections.deque()
        for start in starts:  # at most 2 chunks per worker in flight: bounded memory
            pending.append((start, pool.submit(_extract_chunk, chunk(start), params)))
            if len(pending) >= 2 * workers:
                first, future = pending.popleft()
                yield first, future.result()
        while pending:
            first, future = pending.popleft()
            yield first, future.result()
