"""EmoBox-format corpora (Ma et al., Interspeech 2024): one metadata format and official folds
for 32 emotional-speech corpora, read from an unmodified `EmoBox/data/<name>/` folder.

A corpus folder holds:
- `<name>.jsonl`: one JSON object per line with `key`, `wav` (path relative to the EmoBox
  root: `--config.data.root`), `emo` (label), `length`, `sample_rate`, `channel`;
- a label map `label_map.json` or `label_dict.json` (raw label → class name), or none (the
  raw labels are the classes);
- `data.seg.wrd.stm`: `KEY CHANNEL SPEAKER START END <...> LABEL` lines (the speaker is the
  third field);
- `fold_N/<name>_{train,test}_fold_N.jsonl` (some corpora spell it `_foldN`; fold files of
  some corpora name their fields `audio`/`label` instead of `wav`/`emo`: only `key` is read
  from them, everything else comes from the metadata).

The published files are not uniform, so labels are matched to the map exactly, then ignoring
case, spaces and underscores, then by a close spelling (a unique match with similarity ≥ 0.85,
e.g. `happpy` → `happy`); every inexact match is counted in the corpus's `adjusted` notes.
Everything else that cannot be used is skipped and listed: a label outside the map, a key
missing from the stm, a fold line naming a key absent from the metadata, a missing audio
file, an unparsable line.
"""

from __future__ import annotations

import collections
import difflib
import hashlib
import json
import re
from pathlib import Path

from ser_jax.corpora import base
from ser_jax.errors import SerJaxError

LABEL_MAP_NAMES = ("label_map.json", "label_dict.json")
STM_NAME = "data.seg.wrd.stm"
_FOLD_DIR = re.compile(r"^fold_?(\d+)$")
_CLOSE_SPELLING = 0.85

FIX_HINT = ("pass --config.data.emobox=PATH/EmoBox/data/<corpus> (the folder holding <corpus>.jsonl, "
            "data.seg.wrd.stm and fold_N/) and --config.data.root=PATH (the folder its `wav` paths are "
            "relative to, by default the EmoBox root two levels above)")


class EmoboxError(SerJaxError):
    """The EmoBox corpus folder is missing or lacks a file every EmoBox corpus has."""


def _norm(label: str) -> str:
    return re.sub(r"[\s_\-]+", "", label).casefold()


class LabelMap:
    """Raw EmoBox labels → class names, tolerant of the published spellings.

    Args:
      mapping: raw label → class name (the corpus's label map), or None: each raw label
        is its own class (`known` then lists them).
      known: the raw labels of the metadata (used when there is no map).
    """

    def __init__(self, mapping: dict | None, known=()):
        self.mapping = dict(mapping) if mapping else {k: k for k in sorted(set(known))}
        self._by_norm = {}
        for key in self.mapping:
            self._by_norm.setdefault(_norm(key), key)

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.mapping.values())))

    def lookup(self, raw: str) -> tuple[str | None, str]:
        """(class name or None, how it matched: exact | case | spelling | none)."""
        if raw in self.mapping:
            return self.mapping[raw], "exact"
        norm = _norm(raw)
        if norm in self._by_norm:
            return self.mapping[self._by_norm[norm]], "case"
        close = difflib.get_close_matches(norm, list(self._by_norm), n=2, cutoff=_CLOSE_SPELLING)
        if len(close) == 1 or (len(close) == 2 and _ratio(norm, close[0]) > _ratio(norm, close[1])):
            return self.mapping[self._by_norm[close[0]]], "spelling"
        return None, "none"


def _ratio(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()


def find_metadata(folder: Path) -> Path:
    """`<folder>/<folder name>.jsonl`, or the folder's only top-level .jsonl file."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise EmoboxError(f"EmoBox corpus folder {folder} does not exist: {FIX_HINT}")
    named = folder / f"{folder.name}.jsonl"
    if named.is_file():
        return named
    found = sorted(folder.glob("*.jsonl"))
    if len(found) == 1:
        return found[0]
    raise EmoboxError(f"EmoBox corpus folder {folder} has no {named.name}"
                      + (f" and {len(found)} other .jsonl files" if found else "") + f": {FIX_HINT}")


def read_label_map(folder: Path) -> tuple[dict | None, Path | None]:
    """(raw label → class name, its file) from label_map.json or label_dict.json; (None, None)
    when the corpus has neither."""
    for name in LABEL_MAP_NAMES:
        path = Path(folder) / name
        if path.is_file():
            try:
                mapping = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as err:
                raise EmoboxError(f"label map {path} is not valid JSON ({err}): fix or delete it") from None
            if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
                raise EmoboxError(f"label map {path} must be one JSON object of label → class name")
            return mapping, path
    return None, None


def read_stm(folder: Path) -> dict:
    """key → speaker (third field) of every line of data.seg.wrd.stm."""
    path = Path(folder) / STM_NAME
    if not path.is_file():
        raise EmoboxError(f"{path} does not exist: every EmoBox corpus folder has it (it gives the speakers); "
                          f"{FIX_HINT}")
    speakers = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        fields = line.split()
        if len(fields) >= 3:
            speakers[fields[0]] = fields[2]
    return speakers


def fold_files(folder: Path, name: str) -> list[tuple[str, Path, Path]]:
    """(fold name, train file, test file) of every `fold_N/` folder, in fold order.

    Both published spellings are accepted (`<name>_train_fold_N.jsonl`, `<name>_train_foldN.jsonl`);
    where a folder holds both, `_fold_N` is read.

    Raises:
      EmoboxError: a fold folder without a train or a test file.
    """
    found = []
    for fold_dir in Path(folder).iterdir():
        match = _FOLD_DIR.match(fold_dir.name)
        if match and fold_dir.is_dir():
            found.append((int(match[1]), fold_dir))
    result = []
    for n, fold_dir in sorted(found):
        files = []
        for part in ("train", "test"):
            candidates = [fold_dir / f"{name}_{part}_fold_{n}.jsonl", fold_dir / f"{name}_{part}_fold{n}.jsonl"]
            candidates += sorted(fold_dir.glob(f"*_{part}_fold*{n}.jsonl"))
            path = next((c for c in candidates if c.is_file()), None)
            if path is None:
                raise EmoboxError(f"{fold_dir} has no {part} file ({candidates[0].name} or {candidates[1].name}): "
                                  "restore it from EmoBox, or remove the folder to drop that fold")
            files.append(path)
        result.append((f"fold_{n}", *files))
    return result


def _json_lines(path: Path):
    """(line number, object or None when unparsable, the raw line) of every non-empty line."""
    for lineno, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if line.strip():
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                obj = None
            yield lineno, obj if isinstance(obj, dict) else None, line


class Emobox(base.SpeechCorpusBuilder, skip_registration=True):
    """One EmoBox corpus, its official folds kept in the build's metadata (`official_folds`).

    Args (keyword):
      folder: `EmoBox/data/<name>`.
      root: the folder the metadata's `wav` paths are relative to.
      **kwargs: see `base.SpeechCorpusBuilder`.
    """

    name = "emobox"
    DESCRIPTION = "A corpus in EmoBox's metadata format with its official folds (Ma et al., Interspeech 2024)."
    HOMEPAGE = "https://github.com/emo-box/EmoBox"

    def __init__(self, *, folder, root, **kwargs):
        self.folder = Path(folder).expanduser().resolve()
        self.root = Path(root).expanduser().resolve()
        self.metadata_path = find_metadata(self.folder)
        self.corpus_name = self.metadata_path.stem
        self.rows = list(_json_lines(self.metadata_path))
        mapping, self.label_map_path = read_label_map(self.folder)
        self.labels = LabelMap(mapping, known=[str(o.get("emo", "")) for _, o, _ in self.rows if o])
        self.speakers = read_stm(self.folder)
        self.folds = fold_files(self.folder, self.corpus_name)
        if not self.labels.classes:
            raise EmoboxError(f"{self.metadata_path}: no label found (no label map and no `emo` field)")
        super().__init__(**kwargs)

    @property
    def classes(self):
        return self.labels.classes

    def list_utterances(self, dl_manager) -> base.Listing:
        del dl_manager  # everything is local
        matched = collections.Counter()
        seen = set()
        for lineno, obj, line in self.rows:
            where = f"{self.metadata_path}:{lineno}"
            key, wav, raw = (str(obj.get(f, "")).strip() for f in ("key", "wav", "emo")) if obj else ("", "", "")
            if not (key and wav and raw):
                yield base.Skip(where, "unparsable_line",
                                f"{line.strip()[:120]!r} is not a JSON object with key, wav and emo")
                continue
            if key in seen:
                yield base.Skip(where, "duplicate", f"key {key} is listed more than once")
                continue
            seen.add(key)
            label, how = self.labels.lookup(raw)
            if label is None:
                source = self.label_map_path or "the metadata"
                yield base.Skip(where, "excluded_label",
                                f"{key}: label {raw!r} is not in {source} ({', '.join(self.labels.mapping)})")
                continue
            if how != "exact":
                matched[f"label {raw!r} read as {label!r} ({'case or spacing' if how == 'case' else 'close spelling'})"] += 1
            if key not in self.speakers:
                yield base.Skip(where, "no_speaker", f"{key} has no line in {self.folder / STM_NAME}")
                continue
            path = self.root / wav
            if not path.is_file():
                yield base.Skip(str(path), "missing_audio", f"{key} is listed at {where} but its audio does not "
                                f"exist under --config.data.root={self.root}")
                continue
            yield base.Utterance(path=str(path), utt_id=key, label=label, raw_label=raw,
                                 speaker=self.speakers[key])
        official = []
        for fold, *files in self.folds:
            parts = {}
            for part, path in zip(("train", "test"), files):
                keys = []
                for lineno, obj, line in _json_lines(path):
                    key = str(obj.get("key", "")).strip() if obj else ""
                    if not key:
                        yield base.Skip(f"{path}:{lineno}", "unparsable_line",
                                        f"{line.strip()[:120]!r} is not a JSON object with a key")
                    elif key not in seen:
                        yield base.Skip(f"{path}:{lineno}", "fold_key_unknown",
                                        f"{fold} {part} names {key}, which {self.metadata_path.name} does not list")
                    else:
                        keys.append(key)
                parts[part] = keys
            official.append({"name": fold, "train": parts["train"], "test": parts["test"],
                             "files": [str(f) for f in files]})
        self.info.metadata["official_folds"] = official
        self.info.metadata["label_matches"] = dict(matched)


DATA_FOLDER = None  # --config.data.emobox names the folder


def default_root(folder) -> Path:
    """EmoBox's `wav` paths are relative to the EmoBox root: `<root>/data/<name>` → `<root>`."""
    return Path(folder).expanduser().resolve().parent.parent


def source(data):
    """(builder class, keyword arguments, source fingerprint): the content of the metadata,
    stm, label map and fold files, and the size and modification time of each listed audio file."""
    if not data.get("emobox", ""):
        raise EmoboxError("--config.data.corpus=emobox needs the corpus folder: " + FIX_HINT)
    folder = Path(data.emobox).expanduser().resolve()
    metadata = find_metadata(folder)
    root = Path(data.root).expanduser().resolve() if data.root else default_root(folder)
    if not root.is_dir():
        raise EmoboxError(f"--config.data.root={root} does not exist: {FIX_HINT}")
    texts = [metadata, folder / STM_NAME, *(folder / n for n in LABEL_MAP_NAMES)]
    texts += sorted(folder.glob("fold*/*.jsonl"))
    fingerprint = [(str(p.relative_to(folder)), hashlib.sha256(p.read_bytes()).hexdigest())
                   for p in texts if p.is_file()]
    for _, obj, _ in _json_lines(metadata):
        path = root / str(obj.get("wav", "")) if obj else None
        if path is not None and path.is_file():
            stat = path.stat()
            fingerprint.append((str(path), stat.st_size, stat.st_mtime_ns))
    return Emobox, dict(folder=folder, root=root), fingerprint
