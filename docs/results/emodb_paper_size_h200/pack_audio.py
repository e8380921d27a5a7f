"""Carry EmoDB to a device machine inside its 64 MiB working-tree limit, losslessly.

    python pack_audio.py pack   $SER_JAX_DATA/emodb/wav .devdata/flac   # here: 47 MB of WAV -> 29 MiB of FLAC
    python pack_audio.py unpack .devdata/flac /tmp/data/emodb/wav       # there: the same 16-bit samples as WAV

Each direction checks that every file decodes to the samples it was made from; the features are
computed from the samples, so runs on the unpacked copy see the recordings of ../../shared/data.
"""

import sys
from pathlib import Path

import numpy as np
import soundfile


def convert(source: Path, target: Path, suffix: str, fmt: str) -> None:
    files = sorted(source.iterdir())
    if not files:
        sys.exit(f"{source}: no files to convert")
    target.mkdir(parents=True, exist_ok=True)
    for path in files:
        samples, rate = soundfile.read(path, dtype="int16")
        out = target / (path.stem + suffix)
        soundfile.write(out, samples, rate, subtype="PCM_16", format=fmt)
        if not np.array_equal(soundfile.read(out, dtype="int16")[0], samples):
            sys.exit(f"{out}: samples differ from {path} after conversion")
    print(f"{len(files)} files {source} -> {target}")


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("pack", "unpack"):
        sys.exit(__doc__)
    direction, source, target = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    convert(source, target, *((".flac", "FLAC") if direction == "pack" else (".wav", "WAV")))
