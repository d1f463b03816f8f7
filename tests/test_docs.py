"""The docs stay true: README, docs/ARCHITECTURE.md and the Dockerfile name only pages,
endpoints, settings, files, make targets and modules that exist."""

from __future__ import annotations

import importlib.util
import re
import shlex
import struct
import tomllib
from pathlib import Path

import pytest

from app.main import create_app
from app.routers.pages import CHAPTERS
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
ARCHITECTURE = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
RELIABILITY = (ROOT / "docs" / "RELIABILITY.md").read_text(encoding="utf-8")
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
MAKEFILE = (ROOT / "Makefile").read_text(encoding="utf-8")


@pytest.fixture
def client(tiny_engine, make_client):
    return make_client(tiny_engine)


def _exists(client, method: str, path: str) -> bool:
    """The app routes this method and path (a 422 for an empty body still proves it exists)."""
    response = client.get(path) if method == "GET" else client.post(path, json={})
    return response.status_code not in (404, 405)


# --- README ------------------------------------------------------------------------------------


def test_readme_story_table_lists_every_page_and_each_exists(client):
    table = re.findall(r"^\| `(/[a-z]*)` \|", README, flags=re.M)
    assert table == ["/"] + [c.path for c in CHAPTERS]
    for path in table:
        assert client.get(path).status_code == 200, path


def test_every_api_endpoint_named_in_readme_exists(client):
    named = {(m.group(2) and "POST" or "GET", m.group(1))
             for m in re.finditer(r"curl -s http://127\.0\.0\.1:8000(/api/[a-z/-]+)( -H)?", README)}
    named |= {("POST", "/api" + path) for path in re.findall(r'api\.post\("(/[a-z/-]+)"', README)}
    assert ("GET", "/api/model") in named and ("POST", "/api/predict") in named
    missing = {(method, path) for method, path in named if not _exists(client, method, path)}
    assert not missing, f"README names endpoints the app does not have: {sorted(missing)}"


def test_readme_settings_table_matches_the_settings_class():
    documented = set(re.findall(r"^\| `TT_([A-Z_]+)` \|", README, flags=re.M))
    fields = {name.upper() for name in Settings.model_fields}
    assert documented <= fields, f"README documents unknown settings: {sorted(documented - fields)}"
    # Every setting a user may want is documented (the byte bound of the cache is an internal guard).
    assert fields - documented <= {"ANALYSIS_CACHE_BYTES"}


def test_readme_settings_table_gives_each_settings_default():
    """The table said TT_ANALYSIS_CACHE_BYTES defaults to 2147483648 (2 GB); the setting's default is 512 MB,
    as the README's own Benchmarks section says."""
    rows = dict(re.findall(r"^\| `TT_([A-Z_]+)` \| ([^|]+?) \|", README, flags=re.M))
    for name, shown in rows.items():
        default = Settings.model_fields[name.lower()].default
        if shown == "(unset)":
            assert default is None, name
        elif shown == "all cores":
            assert name == "THREADS"
        elif shown.startswith("`"):
            assert Path(default) == ROOT / shown.strip("`"), name
        else:
            assert int(shown) == default, f"README gives TT_{name} the default {shown}; the setting's is {default}"
    assert "512 MB by default" in README and Settings.model_fields["analysis_cache_bytes"].default == 512 * 1024**2


def test_readme_numbers_about_the_api_are_the_codes():
    """Figures the README states about the API, read from the constants that make them true."""
    from app.parsing import MAX_DEPTH
    from model import attribution, head_probes
    from model import toy_transformer as tt

    assert f"nest at most {MAX_DEPTH} levels" in README
    probes = f"({len(head_probes.ORDINARY_TEXT)} short sentences and {head_probes.INDUCTION_SEQUENCES} repeated random"
    assert probes in README
    config = tt.TrainConfig()
    assert f"({config.layers} layers\nof attention, {tt.ToyConfig().n_ctx} random tokens per sequence" in README
    assert f"a `progress` event every {config.log_every} steps" in README
    assert f"at most {tt.MAX_STEPS}\nsteps" in README or f"at most {tt.MAX_STEPS} steps" in README
    assert f"`ig_steps` = {attribution.DEFAULT_STEPS} by default" in README



def test_readme_names_the_controls_and_the_reacting_parts_the_api_sends():
    """The README's /api/attribution and /api/learn paragraphs named the check's predicted, norm-only and real
    change and the runs' curves, but not the fields added beside them: check.reacting (the parts after the
    switched-off ones, the only ones that make the real change differ from the norm-only one) and final's
    previous_even and previous_two_back (the previous-token head's controls)."""
    from app.schemas.attribution import CheckOut
    from app.schemas.learn import FinalOut

    flat = " ".join(README.split())
    for model, fields in ((CheckOut, ("reacting",)), (FinalOut, ("previous_even", "previous_two_back"))):
        for field in fields:
            assert field in model.model_fields and f"`{field}`" in flat, field
    assert "in `reacting` the parts behind the gap between the last two" in flat

@pytest.mark.real
def test_readme_figures_about_the_model_are_its_own(real_client):
    """The figures the README shows beside its examples and screenshots, on the real model: ' Paris'
    after 'The capital of France is' (the screenshot's p = 0.77, the example's printed 0.773), and at the
    attention screenshot's head (layer 23, head 4) ' is' looking at ' France'."""
    best = real_client.post("/api/predict", json={"text": "The capital of France is"}).json()["predictions"][0]
    assert best["text"] == " Paris"
    assert f"Paris {round(best['probability'], 3)}" in README.replace("  ", " ")
    assert f"“␣Paris” at p = {best['probability']:.2f}" in README
    shot = re.search(r"/attention\?text=([^&]+)&layer=(\d+)&head=(\d+)`\): “(.+?)” looks at “(.+?)”", README)
    text, layer, head, query, key = shot.groups()
    a = real_client.post("/api/attention", json={"text": text, "layer": int(layer), "head": int(head)}).json()
    shown = [t["display"] for t in a["tokens"]]
    row = a["weights"][-1]
    assert shown[-1] == query and shown[max(range(len(row)), key=row.__getitem__)] == key
    assert row[shown.index(key)] > 0.5


def test_make_targets_named_in_readme_exist():
    targets = set(re.findall(r"^([a-z-]+):", MAKEFILE, flags=re.M))
    named = set(re.findall(r"\bmake ([a-z-]+)", README))
    assert {"run", "test"} <= named
    assert named <= targets, f"README names make targets the Makefile lacks: {sorted(named - targets)}"


def _png_size(path: Path) -> tuple[int, int]:
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def test_readme_shows_a_small_current_screenshot_of_every_page():
    pictures = set(re.findall(r"\]\((docs/screenshots/[a-z]+\.png)\)", README))
    expected = {"docs/screenshots/tour.png"} | {f"docs/screenshots/{c.slug}.png" for c in CHAPTERS}
    assert pictures == expected
    from benchmarks.screenshots import SHOTS  # the script that makes them covers the same pages
    assert {f"docs/screenshots/{s.name}.png" for s in SHOTS} == expected
    for picture in pictures:
        path = ROOT / picture
        assert path.is_file(), f"{picture} is missing: run `make screenshots`"
        assert path.stat().st_size < 400_000, f"{picture} is larger than 400 kB"
        assert _png_size(path)[0] == 1280


def test_files_and_folders_named_in_readme_exist():
    named = set(re.findall(r"`((?:app|model|docs|benchmarks|tests|static|templates)/[\w./-]+)`", README))
    named |= {"DEVELOPERS.md", "docs/ARCHITECTURE.md", "docs/PERFORMANCE.md"} & set(re.findall(r"[\w/]+\.md", README))
    missing = sorted(p for p in named if not (ROOT / p).exists() and not p.startswith("model/data"))
    # docs/PERFORMANCE.md is written by `make bench`; it may not exist in a fresh clone yet.
    missing = [p for p in missing if p != "docs/PERFORMANCE.md"]
    assert not missing, f"README names files that do not exist: {missing}"


# --- docs/ARCHITECTURE.md ------------------------------------------------------------------------


def test_architecture_names_only_modules_that_exist():
    named = set(re.findall(r"`((?:app|model)/[\w/*]+\.py)`", ARCHITECTURE))
    assert len(named) > 15
    for path in named:
        if "*" in path:
            assert list(ROOT.glob(path)), path
        else:
            assert (ROOT / path).is_file(), f"docs/ARCHITECTURE.md names {path}, which does not exist"


def test_architecture_names_real_functions_and_hook_points():
    from app.engine import Engine
    from model import analysis, llama, weights

    assert callable(analysis.analyse_ids) and "previous" in analysis.analyse_ids.__code__.co_varnames
    assert callable(weights.unpermute_qk) and callable(weights.load_weights)
    assert hasattr(Engine, "run") and hasattr(Engine, "analyse") and hasattr(Engine, "prompt")
    for hook in re.findall(r"`(blocks\.\d+\.[a-z_.]+)`", ARCHITECTURE):
        assert hook in llama.hook_names(30), hook
    for setting in re.findall(r"`TT_([A-Z_]+)`", ARCHITECTURE):
        assert setting.lower() in Settings.model_fields, setting


# --- docs/RELIABILITY.md ------------------------------------------------------------------------


def test_reliability_counts_what_its_checks_cover(client):
    """The fuzz row said 21 operations when the fuzz test covered 40; the headers row said 'every page'
    when the test checked 7 of the 10. Counted from the app and the tests themselves."""
    fuzz = (ROOT / "tests" / "app" / "test_fuzz_api.py").read_text(encoding="utf-8")
    assert '.exclude(path_regex="^/api/learn")' in fuzz
    operations = [(method, path) for path, item in client.get("/openapi.json").json()["paths"].items()
                  for method in item]
    skipped = [op for op in operations if op[1].startswith("/api/learn")]
    assert f"every operation but the {len(skipped)} under `/api/learn`" in RELIABILITY
    assert f"| {len(operations) - len(skipped)} operations x up to 25 generated requests each" in RELIABILITY
    from tests.app.test_security_headers import PAGES
    assert PAGES == ["/"] + [c.path for c in CHAPTERS]
    assert f"every page (the tour and the {len(CHAPTERS)} chapters)" in RELIABILITY
    hostile = (ROOT / "tests" / "browser" / "test_hostile_input.py").read_text(encoding="utf-8")
    states = re.search(r"^PAGES = \{(.*?)^\}", hostile, flags=re.M | re.S).group(1)
    count = len(re.findall(r'^    "/', states, flags=re.M))
    assert f"{count} page states" in RELIABILITY


# --- Dockerfile ------------------------------------------------------------------------------------


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)  # join continued lines
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            rows.append((keyword.upper(), rest.strip()))
    return rows


def test_dockerfile_runs_as_a_non_root_user_with_a_healthcheck():
    rows = _instructions()
    users = [rest for keyword, rest in rows if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert any(keyword == "HEALTHCHECK" and "/api/model" in rest for keyword, rest in rows)
    assert ("EXPOSE", "8000") in rows
    cmd = [rest for keyword, rest in rows if keyword == "CMD"][-1]
    assert '"app.main:app"' in cmd and '"0.0.0.0"' in cmd and '"8000"' in cmd
    assert rows[0][0] == "FROM" and rows[0][1].startswith("python:3.11")


def test_dockerfile_pins_the_same_cpu_torch_as_pyproject():
    pins = [d for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
            if d.startswith("torch")]
    assert pins == ["torch==2.13.0"]
    torch_lines = [rest for keyword, rest in _instructions() if keyword == "RUN" and "torch==" in rest]
    assert torch_lines and all(pins[0] in line for line in torch_lines)
    assert "download.pytorch.org/whl/cpu" in torch_lines[0]


def test_dockerfile_copies_and_runs_only_what_exists():
    rows = _instructions()
    for keyword, rest in rows:
        if keyword == "COPY":
            sources = [a for a in shlex.split(rest) if not a.startswith("--")][:-1]
            for source in sources:
                assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"
        if keyword in ("RUN", "CMD", "HEALTHCHECK"):
            for module in re.findall(r"python -m ([\w.]+)", rest) + re.findall(r'"-m", "([\w.]+)"', rest):
                assert importlib.util.find_spec(module) is not None, f"Dockerfile runs a missing module {module}"
            for name in re.findall(r"from ([\w.]+) import", rest):
                assert importlib.util.find_spec(name) is not None, name
    # The weights are fetched and warmed at build time, as the non-root user.
    user_at = next(i for i, (k, _) in enumerate(rows) if k == "USER")
    fetch_at = next(i for i, (k, r) in enumerate(rows) if k == "RUN" and "model.fetch" in r)
    assert user_at < fetch_at and "load_engine" in rows[fetch_at][1]


def test_dockerignore_keeps_weights_and_venv_out_of_the_build_context():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", "model/data"} <= set(ignored)
    for keyword, rest in _instructions():
        if keyword == "COPY":
            for source in shlex.split(rest)[:-1]:
                assert source not in ignored, f"{source} is copied but excluded by .dockerignore"
