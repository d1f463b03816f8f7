"""Front-end files: plotly.js's 2-D bundle (committed), the full bundle (plotly package) and axe-core
(npm registry, tests only). No node needed to run the app.

    python -m app.assets           the files the app serves (nothing to fetch: both are in place)
    python -m app.assets --tests   also the files only the tests use (axe-core)

The 2-D bundle, static/vendor/plotly-2d-<version>.min.js, is plotly.js with only the trace types
the 2-D charts draw (scatter, bar, heatmap): 1.26 MB instead of the 1.50 MB npm "cartesian" bundle
(issue 20). tools/build_plotly_2d.sh builds it from the plotly.js npm package; its sha256 is pinned
below and checked by tests/app/test_assets.py.

`make run` and `make test` run this (it skips files already in place). Each file is one member of
an npm tarball: the tarball is downloaded from registry.npmjs.org with urllib, its sha512 is
compared with the `integrity` pinned below (the registry's own `dist.integrity` for that version),
and the member is written to a temporary file and renamed into vendor/, so a failure leaves
nothing half-written. The app serves vendor/ files under versioned names (/vendor/<name>, cached
for a year, gzipped once in memory; app/routers/pages.py).

The full plotly.js bundle (3-D charts, waterfall) is not fetched: the `plotly` Python package
ships it, and its version is the one the 2-D bundle is built from (checked by a test).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import os
import sys
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import plotly

ROOT = Path(__file__).resolve().parents[1]
VENDOR_DIR = ROOT / "vendor"
REGISTRY = "https://registry.npmjs.org"
PLOTLY_FULL = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


@dataclass(frozen=True)
class NpmFile:
    package: str
    version: str
    integrity: str   # "sha512-<base64>", the registry's dist.integrity for this version
    member: str      # the file inside the tarball
    name: str        # the file name in vendor/ and under /vendor/ (carries the version)
    tests_only: bool = False

    @property
    def tarball(self) -> str:
        base = self.package.rsplit("/", 1)[-1]
        return f"{REGISTRY}/{self.package}/-/{base}-{self.version}.tgz"

    @property
    def path(self) -> Path:
        return VENDOR_DIR / self.name


@dataclass(frozen=True)
class BuiltFile:
    """A file built from an npm package by a script in tools/ and committed, pinned by its sha256."""
    version: str
    traces: tuple[str, ...]
    sha256: str
    name: str        # the file name under static/vendor/ and /vendor/ (carries the version)

    @property
    def path(self) -> Path:
        return ROOT / "static" / "vendor" / self.name


# plotly.js with the trace types of every 2-D chart of the site (grep `type:` in static/js):
# scatter, bar, heatmap. Same version as the full bundle in the plotly package. Any other trace type
# (scatter3d on /embeddings, waterfall) loads the full bundle: static/js/kit/plotly.js plotly3d().
PLOTLY_2D = BuiltFile(
    version="4.1.1", traces=("scatter", "bar", "heatmap"),
    sha256="4e76cb3c04d97b55c88c137715da825772dbee561a27be3cc4f13eac2ddb5cdb",
    name="plotly-2d-4.1.1.min.js")

# Accessibility checks in the browser tests (tests/browser/checks.py); never served to visitors.
AXE = NpmFile(
    package="axe-core", version="4.14.1",
    integrity="sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==",
    member="package/axe.min.js", name="axe-core-4.14.1.min.js", tests_only=True)

FILES = [AXE]


class FetchError(RuntimeError):
    """A file could not be fetched or did not match its pinned integrity."""


def plotly_full_version() -> str:
    """The plotly.js version of the full bundle inside the plotly package (its first comment)."""
    with open(PLOTLY_FULL, encoding="utf-8") as f:
        head = f.read(200)
    marker = "plotly.js v"
    return head[head.index(marker) + len(marker):].split()[0] if marker in head else plotly.__version__


PLOTLY_FULL_NAME = f"plotly-{plotly_full_version()}.min.js"


def served_files() -> dict[str, Path]:
    """/vendor/<name> -> file, for what the app serves (the tests-only files are not served)."""
    files = {PLOTLY_FULL_NAME: PLOTLY_FULL, PLOTLY_2D.name: PLOTLY_2D.path}
    files.update({f.name: f.path for f in FILES if not f.tests_only})
    return files


@cache
def gzipped(path: Path) -> bytes:
    """The file gzipped, once per process (files under /vendor never change: their names carry
    the version)."""
    return gzip.compress(path.read_bytes(), compresslevel=9, mtime=0)


def _say(message: str) -> None:
    print(f"[assets] {message}", file=sys.stderr, flush=True)


def integrity_of(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def fetch(file: NpmFile) -> Path:
    """Download `file`'s tarball, check its integrity and put the member in vendor/ (skipped when
    the file is already there)."""
    if file.path.exists():
        return file.path
    _say(f"downloading {file.package}@{file.version} from {REGISTRY}...")
    try:
        with urllib.request.urlopen(file.tarball, timeout=120) as response:
            data = response.read()
    except OSError as exc:
        raise FetchError(f"could not download {file.tarball} ({exc}); check the connection to the npm "
                         "registry and run `make` again") from exc
    got = integrity_of(data)
    if got != file.integrity:
        raise FetchError(f"{file.tarball} does not match its pinned integrity:\n  expected {file.integrity}\n"
                         f"  got      {got}")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        try:
            member = archive.extractfile(file.member)
        except KeyError:
            member = None
        if member is None:
            raise FetchError(f"{file.package}@{file.version} has no {file.member}")
        content = member.read()
    VENDOR_DIR.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=VENDOR_DIR, prefix=f".{file.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; it is a public file
        os.replace(tmp, file.path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _say(f"{file.path} ({len(content):,} bytes)")
    return file.path


def main(argv: list[str]) -> int:
    tests = "--tests" in argv
    try:
        for file in FILES:
            if tests or not file.tests_only:
                fetch(file)
    except FetchError as exc:
        _say(f"error: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
