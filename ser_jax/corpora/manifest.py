"""Any corpus described by a CSV manifest: `path,label,speaker[,session]`.

Lets a user bring RAVDESS, CREMA-D or their own recordings without writing a builder.
Relative paths are resolved against the CSV's folder; the classes are the sorted labels
found in the manifest unless a list is given.

Values are normalised so that spellings of one thing are one thing: labels are trimmed,
inner whitespace collapsed and lower-cased (`Neutral`, ` neutral ` → `neutral`); speaker and
session ids are trimmed, and an all-digit id is read as a number (`03` and `3` → `3`). The file
must be UTF-8.
"""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

from ser_jax.corpora import base
from ser_jax.errors import SerJaxError

REQUIRED_COLUMNS = ("path", "label", "speaker")


class ManifestError(SerJaxError):
    """The manifest file itself is missing or malformed."""


def read_manifest(csv_path) -> list[dict]:
    """Rows of the manifest as dicts with keys path, label, speaker, session, line.

    Raises:
      ManifestError: the file is missing or lacks a required column.
    """
    csv_path = Path(csv_path).expanduser()
    if not csv_path.is_file():
        raise ManifestError(f"manifest {csv_path} does not exist: pass "
                            "--config.data.manifest=FILE.csv with columns path,label,speaker[,session]")
    try:
        text = csv_path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ManifestError(f"manifest {csv_path} is not UTF-8 (byte {err.object[err.start]:#x} at offset {err.start}): "
                            "save it as UTF-8 (e.g. iconv -f latin1 -t utf-8 in.csv > out.csv)") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ManifestError(f"manifest {csv_path} lacks column(s) {', '.join(missing)}: its first "
                            "line must name the columns path,label,speaker[,session]")
    reader.fieldnames = header
    rows = []
    for line, row in enumerate(reader, start=2):
        row = {k: (row.get(k) or "").strip() for k in (*REQUIRED_COLUMNS, "session")}
        rows.append(row | {"label": normalize_label(row["label"]), "speaker": normalize_id(row["speaker"]),
                           "session": normalize_id(row["session"]), "line": line})
    return rows


def normalize_label(label: str) -> str:
    """` Neutral ` → `neutral`: trimmed, inner whitespace collapsed, lower-cased."""
    return " ".join(str(label).split()).casefold()


def normalize_id(value: str) -> str:
    """A speaker or session id: trimmed; all digits → the number (`03` → `3`)."""
    value = str(value).strip()
    return str(int(value)) if value.isdigit() else value


def manifest_classes(rows) -> tuple[str, ...]:
    """Sorted distinct non-empty labels of the manifest rows."""
    return tuple(sorted({r["label"] for r in rows if r["label"]}))


class Manifest(base.SpeechCorpusBuilder, skip_registration=True):
    """A CSV-described corpus.

    Args (keyword):
      manifest: the CSV file.
      classes: class names in index order; empty → the sorted labels of the manifest.
      **kwargs: see `base.SpeechCorpusBuilder`.
    """

    name = "manifest"
    DESCRIPTION = "A corpus described by a CSV manifest (path,label,speaker[,session])."

    def __init__(self, *, manifest, classes=(), **kwargs):
        self.manifest_path = Path(manifest).expanduser().resolve()
        self.rows = read_manifest(self.manifest_path)
        self._classes = tuple(normalize_label(c) for c in classes) or manifest_classes(self.rows)
        if not self._classes:
            raise ManifestError(f"manifest {self.manifest_path} has no labelled row")
        super().__init__(**kwargs)

    @property
    def classes(self):
        return self._classes

    def list_utterances(self, dl_manager) -> base.Listing:
        del dl_manager  # everything is local
        seen = set()
        for row in self.rows:
            where = f"{self.manifest_path}:{row['line']}"
            if not (row["path"] and row["label"] and row["speaker"]):
                yield base.Skip(where, "unparsable_row", "path, label and speaker must all be non-empty")
                continue
            path = Path(row["path"]).expanduser()
            path = path if path.is_absolute() else self.manifest_path.parent / path
            if row["label"] not in self._classes:
                yield base.Skip(where, "excluded_label",
                                f"label {row['label']!r} is not one of {', '.join(self._classes)}")
                continue
            if not path.is_file():
                yield base.Skip(str(path), "missing_audio", f"listed at {where} but does not exist")
                continue
            utt_id = str(path.resolve())
            if utt_id in seen:
                yield base.Skip(where, "duplicate", f"{path} is listed more than once")
                continue
            seen.add(utt_id)
            yield base.Utterance(path=str(path), utt_id=utt_id, label=row["label"],
                                 raw_label=row["label"], speaker=row["speaker"], session=row["session"])


DATA_FOLDER = None  # the manifest names its files


def source(data):
    """(builder class, keyword arguments, source fingerprint): the CSV's content and each
    listed file's size and modification time."""
    rows = read_manifest(data.manifest)
    csv_path = Path(data.manifest).expanduser().resolve()
    fingerprint = [hashlib.sha256(csv_path.read_bytes()).hexdigest()]
    for row in rows:
        path = Path(row["path"]).expanduser()
        path = path if path.is_absolute() else csv_path.parent / path
        if path.is_file():
            stat = path.stat()
            fingerprint.append((str(path), stat.st_size, stat.st_mtime_ns))
    return Manifest, dict(manifest=data.manifest), fingerprint
