"""EmoDB (Berlin Database of Emotional Speech) as a TFDS builder.

Reads a local folder holding `wav/*.wav` (any sample rate; resampled to 16 kHz) or,
when no folder is given, downloads the public archive. File names `SSTTTEV.wav` carry
speaker `SS`, text `TTT`, emotion letter `E` and version `V`.
"""

from __future__ import annotations

import hashlib
import re
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from ser_jax.corpora import base, labels
from ser_jax.errors import SerJaxError

DOWNLOAD_URL = "http://emodb.bilderbar.info/download/download.zip"
EXPECTED_UTTERANCES = 535
_NAME = re.compile(r"^(?P<speaker>\d\d)(?P<text>[ab]\d\d)(?P<emotion>[A-Z])(?P<version>[a-z])\.wav$")

_LOCAL_FIX = ("point ser_jax at a local copy with --config.data.root=/path/to/emodb "
              "(a folder holding wav/*.wav), or set SER_JAX_DATA to the folder that holds emodb/")


class EmodbError(SerJaxError):
    """EmoDB could not be found or fetched; the message says how to fix it."""


def find_wav_dir(root) -> Path:
    """The folder of EmoDB wav files under `root` (root/wav, or root itself).

    Raises:
      EmodbError: the folder is missing or holds no .wav file.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise EmodbError(f"EmoDB folder {root} does not exist: {_LOCAL_FIX}")
    for candidate in (root / "wav", root):
        if candidate.is_dir() and any(candidate.glob("*.wav")):
            return candidate
    raise EmodbError(f"EmoDB folder {root} holds no wav/*.wav files: {_LOCAL_FIX}")


class Emodb(base.SpeechCorpusBuilder, skip_registration=True):
    """EmoDB: 535 utterances, 10 speakers, 7 emotions.

    Args (keyword):
      root: local EmoDB folder, or None to download.
      download_url: archive address used when `root` is None.
      download_sha256: if set, the downloaded archive must have this SHA-256.
      **kwargs: see `base.SpeechCorpusBuilder`.
    """

    name = "emodb"
    DESCRIPTION = "Berlin Database of Emotional Speech (Burkhardt et al., Interspeech 2005)."
    HOMEPAGE = "http://emodb.bilderbar.info/"
    CITATION = ("@inproceedings{burkhardt2005database, title={A database of German emotional "
                "speech}, author={Burkhardt, Felix and others}, booktitle={Interspeech}, year={2005}}")

    def __init__(self, *, root=None, download_url: str = DOWNLOAD_URL,
                 download_sha256: str = "", **kwargs):
        self.root = None if root in (None, "") else Path(root)
        self.download_url = download_url
        self.download_sha256 = download_sha256
        super().__init__(**kwargs)

    @property
    def classes(self):
        return labels.EMODB_CLASSES

    def list_utterances(self, dl_manager) -> base.Listing:
        wav_dir = find_wav_dir(self.root if self.root is not None else self._download(dl_manager))
        for path in sorted(wav_dir.glob("*.wav")):
            match = _NAME.match(path.name)
            code = match["emotion"] if match else ""
            if code not in labels.EMODB_EMOTION_CODES:
                yield base.Skip(str(path), "unparsable_name",
                                "not an EmoDB name SSTTTEV.wav with emotion letter in "
                                f"{''.join(labels.EMODB_EMOTION_CODES)}; rename or remove it")
                continue
            speaker = match["speaker"]
            yield base.Utterance(
                path=str(path), utt_id=path.stem, label=labels.EMODB_EMOTION_CODES[code],
                raw_label=code, speaker=speaker,
                gender="F" if speaker in labels.EMODB_FEMALE_SPEAKERS else "M")

    def _download(self, dl_manager) -> Path:
        failures = []
        for url in candidate_urls(self.download_url):
            try:
                _probe(url)
                archive = Path(dl_manager.download(url))
                break
            except Exception as err:  # TFDS wraps network failures in many types
                failures.append(f"{url}: {type(err).__name__}: {err}")
        else:
            raise EmodbError(f"EmoDB: no local folder was given and downloading failed ({'; '.join(failures)}); "
                             f"{_LOCAL_FIX}")
        self.info.metadata["download_url"] = url
        check_archive(archive)
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        if self.download_sha256 and digest != self.download_sha256:
            raise EmodbError(f"EmoDB archive {archive} has SHA-256 {digest}, expected "
                             f"{self.download_sha256}: delete it and retry, or {_LOCAL_FIX}")
        self.info.metadata["download_sha256"] = digest
        return Path(dl_manager.extract(archive))


# What the EmoDB archive can expand to (it holds ~1,100 files, ~60 MB): anything far larger is
# not EmoDB, and is refused before extraction.
MAX_ARCHIVE_MEMBERS = 5000
MAX_ARCHIVE_BYTES = 2 * 1024 ** 3


def candidate_urls(url: str) -> list[str]:
    """The https form of an http address first (used where the host serves it), then the address."""
    return [f"https://{url[len('http://'):]}", url] if url.startswith("http://") else [url]


def check_archive(path) -> None:
    """Refuses an archive that is not a zip or would expand beyond `MAX_ARCHIVE_*` (a zip bomb).

    Raises:
      EmodbError: naming the file and the limit.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile:
        raise EmodbError(f"{path} is not a zip archive: delete it and retry, or {_LOCAL_FIX}") from None
    size = sum(m.file_size for m in members)
    if len(members) > MAX_ARCHIVE_MEMBERS or size > MAX_ARCHIVE_BYTES:
        raise EmodbError(f"{path} would expand to {len(members)} files and {size / 1e9:.1f} GB (EmoDB: ~1,100 files, "
                         f"~60 MB; limits {MAX_ARCHIVE_MEMBERS} and {MAX_ARCHIVE_BYTES / 1e9:.1f} GB): not extracted; "
                         f"{_LOCAL_FIX}")


def _probe(url: str) -> None:
    """Fails within seconds when the address is unreachable.

    TFDS's downloader retries with back-off for minutes before giving up, which leaves an
    offline user staring at a silent terminal.
    """
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=15):
            pass
    except urllib.error.HTTPError as err:
        if err.code != 405:  # a server that refuses HEAD is still reachable
            raise


DATA_FOLDER = "emodb"


def source(data):
    """(builder class, keyword arguments, source fingerprint) of `config.data`: a local copy
    is fingerprinted by its files, a download by its address."""
    root = data.root or None
    fingerprint = base.dir_fingerprint(find_wav_dir(root), "*.wav") if root else data.download_url
    return Emodb, dict(root=root, download_url=data.download_url, download_sha256=data.download_sha256), fingerprint
