"""Writes the two manifests of the cross-corpus example: EmoDB's female speakers (08, 09, 13,
14, 16) with EmoDB's class names, and its male speakers (03, 10, 11, 12, 15) as a "second
corpus" whose labels are spelled otherwise (Angry, hap, Neutral, sad, Boredom, Fearful,
grossed_out), so that the label mapping is exercised: disgust's spelling matches no common
name and is left out unless --config.eval.label_map names it.

    python docs/results/emodb_cross_gender/make_manifests.py $SER_JAX_DATA/emodb/wav OUT_DIR
"""

import csv
import sys
from pathlib import Path

CODES = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness", "T": "sadness", "N": "neutral"}
MALE_SPELLING = {"anger": "Angry", "happiness": "hap", "neutral": "Neutral", "sadness": "sad",
                 "boredom": "Boredom", "fear": "Fearful", "disgust": "grossed_out"}
FEMALE = {"08", "09", "13", "14", "16"}


def main(wav_dir: str, out_dir: str) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = {"female": [], "male": []}
    for wav in sorted(Path(wav_dir).resolve().glob("*.wav")):
        speaker, label = wav.stem[:2], CODES[wav.stem[5]]
        if speaker in FEMALE:
            rows["female"].append((str(wav), label, speaker))
        else:
            rows["male"].append((str(wav), MALE_SPELLING[label], speaker))
    for name, lines in rows.items():
        with (out / f"{name}.csv").open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["path", "label", "speaker"])
            writer.writerows(lines)
        print(f"{out / name}.csv: {len(lines)} utterances")


if __name__ == "__main__":
    main(*sys.argv[1:3])
