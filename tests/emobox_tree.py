"""Writes EmoBox-format corpus folders for tests, shaped like the published ones
(emo-box/EmoBox, data/emodb): real EmoDB audio under `downloads/`, keys `emodb-<stem>`,
speakers `male_03` / `female_08` in the stm, EmoBox's own label spellings (`boredem`, `happy`,
a map whose key is `Neutral` where the metadata says `neutral`), fold files in both published
spellings and field names."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ser_jax.corpora import labels

# EmoBox's `emo` spelling of each EmoDB letter, and its label map (keys as published)
EMO = {"W": "anger", "L": "boredem", "E": "disgust", "A": "fear", "F": "happy", "T": "sad", "N": "neutral"}
LABEL_MAP = {"anger": "Angry", "boredem": "Boredom", "disgust": "Disgust", "fear": "Fear", "happy": "Happy",
             "Neutral": "Neutral", "sad": "Sad"}
# EmoBox class → the emodb builder's class
TO_EMODB = {"Angry": "anger", "Boredom": "boredom", "Disgust": "disgust", "Fear": "fear", "Happy": "happiness",
            "Neutral": "neutral", "Sad": "sadness"}


def speaker_of(stem: str) -> str:
    sex = "female" if stem[:2] in labels.EMODB_FEMALE_SPEAKERS else "male"
    return f"{sex}_{stem[:2]}"


def entry(stem: str, emo: str | None = None) -> dict:
    return {"key": f"emodb-{stem}", "dataset": "emodb", "wav": f"downloads/emodb/wav/{stem}.wav", "type": "raw",
            "sample_rate": 16000, "task": "category", "emo": emo or EMO[stem[5]], "channel": 1}


def write_tree(tmp: Path, wav_dir: Path, stems, *, folds, metadata_extra=(), stm_skip=(), fold_extra=(),
               no_audio=()) -> tuple[Path, Path]:
    """(corpus folder EmoBox/data/emodb, EmoBox root). Audio is linked, not copied.

    Args:
      stems: EmoDB file stems to list.
      folds: [(test stems, spelling)] per fold; spelling "fold_N" writes `emodb_{part}_fold_N.jsonl`
        with wav/emo fields, "foldN" writes `emodb_{part}_foldN.jsonl` with audio/label fields.
        Train = the listed stems not in test.
      metadata_extra: raw lines appended to emodb.jsonl.
      stm_skip: stems left out of the stm.
      fold_extra: raw lines appended to every fold's train file.
      no_audio: stems listed but whose audio is not linked.
    """
    root = tmp / "EmoBox"
    folder = root / "data" / "emodb"
    audio = root / "downloads" / "emodb" / "wav"
    audio.mkdir(parents=True, exist_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    for stem in stems:
        if stem not in no_audio:
            os.symlink(wav_dir / f"{stem}.wav", audio / f"{stem}.wav")
    lines = [json.dumps(entry(s)) for s in stems] + list(metadata_extra)
    (folder / "emodb.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "label_map.json").write_text(json.dumps(LABEL_MAP, indent=4))
    stm = [f"emodb-{s} 1 {speaker_of(s)} 0 2.0 <id=emodb-{s},lang=en,spk={speaker_of(s)},emotion={EMO[s[5]]}> "
           f"{EMO[s[5]]}" for s in stems if s not in stm_skip]
    (folder / "data.seg.wrd.stm").write_text("\n".join(stm) + "\n")
    for n, (test, spelling) in enumerate(folds, start=1):
        fold_dir = folder / f"fold_{n}"
        fold_dir.mkdir()
        suffix = f"fold_{n}" if spelling == "fold_N" else f"fold{n}"
        for part, members in (("train", [s for s in stems if s not in test]), ("test", list(test))):
            rows = []
            for stem in members:
                row = entry(stem)
                if spelling != "fold_N":
                    row["audio"], row["label"] = row.pop("wav"), row.pop("emo")
                rows.append(json.dumps(row))
            if part == "train":
                rows += list(fold_extra)
            (fold_dir / f"emodb_{part}_{suffix}.jsonl").write_text("\n".join(rows) + "\n")
    return folder, root
