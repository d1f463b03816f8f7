"""The HTML pages: one template per page, each extending base.html. Pages carry no data of
their own beyond the running model's shape (quoted in their explanations): their JS module
reads its state from the URL query and fetches the JSON API."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import re
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from app import assets, inprocess, pictures
from app.bytecode_cache import bytecode_cache
from app.stylesheets import style
from app.parsing import is_head
from app.views import model as model_view
from app.views.first_request import Limits, first_request

ROOT = Path(__file__).resolve().parents[2]
templates = Jinja2Templates(directory=str(ROOT / "templates"))
templates.env.bytecode_cache = bytecode_cache(templates.env)  # compiled once, not at every start
# "49,152": numbers of the model in running text read best with thousands separators.
templates.env.filters["thousands"] = lambda n: f"{int(n):,}"
templates.env.globals["style"] = style  # a page's stylesheet written into its head (app/stylesheets.py)

# Front-end files under versioned names (app/assets.py): plotly.js's 2-D bundle (built from npm by
# tools/build_plotly_2d.sh, committed), the full bundle from the plotly package (3-D and other trace
# types, loaded only when a page asks for it: static/js/kit/plotly.js). No CDN: the site works offline.
VENDOR = assets.served_files()
PLOTLY_FULL_URL = f"/vendor/{assets.PLOTLY_FULL_NAME}"
PLOTLY_URL = f"/vendor/{assets.PLOTLY_2D.name}"
# Pages whose first picture is a Plotly chart: base.html preloads the 2-D bundle there (downloaded
# beside the page's modules, run only when the kit first asks for it, after the first request left).
CHART_PAGES = {"", "network", "embeddings", "attention", "inside", "learn", "predict", "why"}
STATIC_JS = ROOT / "static" / "js"
# Static imports of an ES module: `import ... from "./x.js"`, `export ... from "../x.js"`, `import "./x.js"`.
_IMPORT = re.compile(r"""^\s*(?:import|export)\b[^;]*?["'](\.{1,2}/[^"']+\.js)["']""", re.MULTILINE | re.DOTALL)


@lru_cache(maxsize=None)
def module_graph(entry: str) -> tuple[str, ...]:
    """Every module `static/js/<entry>` imports, directly or not, as URLs (the entry itself first).
    base.html `modulepreload`s them, so a first visit fetches the whole graph at once instead of
    one import level after another (each level a round trip before the first request can leave).
    Read once per process: restart the server after changing a page's imports."""
    seen: dict[Path, None] = {}
    todo = [STATIC_JS / entry]
    while todo:
        path = todo.pop(0).resolve()
        if path in seen or not path.is_file() or STATIC_JS not in path.parents:
            continue
        seen[path] = None
        todo += [path.parent / found for found in _IMPORT.findall(path.read_text(encoding="utf-8"))]
    return tuple("/static/js/" + p.relative_to(STATIC_JS).as_posix() for p in seen)


IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}


@dataclass(frozen=True)
class Chapter:
    # The spine of the story is numbered 1-6; deep dives beside it carry their spine chapter's
    # number and a letter ("4a" follows 4), so adding one never renumbers the story.
    number: str
    slug: str
    title: str
    summary: str

    @property
    def path(self) -> str:
        return f"/{self.slug}"


CHAPTERS = [
    Chapter("1", "network", "A neural network", "Nine pixels in, four probabilities out: weighted sums, "
            "squashing and training by gradient descent."),
    Chapter("2", "tokens", "Tokens", "Text is cut into tokens, each with an id; the leading space belongs to the token."),
    Chapter("3", "embeddings", "Embeddings", "Each token is a vector; similar meanings lie close together."),
    Chapter("4", "attention", "Attention", "Each token looks back at earlier tokens and takes in their context."),
    Chapter("4a", "inside", "Inside a layer", "One token through one layer with the real numbers: query·key, "
            "softmax, values, the heads added back, the MLP."),
    Chapter("4b", "learn", "How a transformer learns", "A tiny transformer trained live grows an induction head "
            "that copies; then the same heads in the real model, switched off."),
    Chapter("5", "predict", "Next token", "A probability for every token of the vocabulary; sampling picks one."),
    Chapter("5a", "why", "Why this token?", "The logit taken apart: every head and MLP's push, checked by switching "
            "them off, and which input words mattered."),
    Chapter("6", "chat", "Chat", "Generation over a templated token sequence is a conversation."),
]

router = APIRouter(include_in_schema=False)


def warm() -> None:
    """What a first visit would otherwise wait for, done once as the app starts (the lifespan runs it
    beside the model's loading): the 2-D bundle gzipped (about 40 ms here, on the first visit's critical
    path: its Plotly runs only once the bundle has arrived), the templates compiled, the module graphs read."""
    assets.gzipped(assets.PLOTLY_2D.path)
    for chapter in CHAPTERS:
        templates.env.get_template(f"{chapter.slug}.html")
        module_graph(f"{chapter.slug}.js")
    templates.env.get_template("index.html")
    module_graph("tour.js")



def render(request: Request, template: str, active: str, **context) -> Response:
    # `model` (the running model's shape) lets explanations quote its own numbers, so they stay
    # true for another GGUF given in TT_MODEL_PATH.
    # `model_json` is GET /api/model's answer, written once into base.html's <body data-model>:
    # every page's script reads the model's shape and limits from there (static/js/kit/model.js).
    # `first_request`: the API answer the page's first picture needs, from its URL query
    # (app/views/first_request.py). A page with a picture module (app/pictures) gets it drawn into
    # its HTML (streamed: everything above the picture goes out at once); the others get it preloaded
    # from the head, so the model starts as the HTML arrives.
    engine = request.app.state.engine
    url = first_request(active, request.query_params.multi_items(), Limits.of(engine))
    streamed = pictures.renderer(active) if url else None  # a page whose GET streams its first picture
    # Not drawn for a HEAD: its body, the picture with it, is never sent (app/parsing.py).
    head = is_head(request.scope)
    draw = None if head else streamed
    html = templates.get_template(template).render({
        "request": request, "first_request": None if draw else url,
        "first_picture": lambda: Markup(pictures.SLOT) if draw else "", "picture_first": bool(draw),
        "chapters": CHAPTERS, "active": active,
        "plotly_url": PLOTLY_URL, "plotly_full_url": PLOTLY_FULL_URL, "preload_plotly": active in CHART_PAGES,
        "modules": module_graph(f"{active or 'tour'}.js"),
        "model_name": engine.display_name, "model": engine.cfg, "runs_smollm2": engine.runs_smollm2,
        "model_json": model_view.model_info(engine).model_dump_json(), **context})
    if head and streamed:
        # The GET this HEAD stands for is streamed, without a Content-Length: so is the HEAD's answer,
        # whose headers must be the GET's (its length would be the page without its picture).
        return StreamingResponse(iter([html]), media_type="text/html; charset=utf-8")
    if not draw or pictures.SLOT not in html:
        return HTMLResponse(html)
    above, below = html.split(pictures.SLOT, 1)
    return StreamingResponse(_stream(request.app, url, draw, above, below), media_type="text/html; charset=utf-8")


# How long a page waits for its first picture's answer before sending the rest without it (the page is
# not interactive until its code, after the picture, has arrived).
PICTURE_WAIT_SECONDS = 1.5


async def _stream(app, url: str, draw, above: str, below: str):
    """The page above its first picture at once; then the picture and its answer (or nothing, when the
    answer is refused or anything fails: the page's module then asks as usual); then the rest."""
    yield above
    block = ""
    try:
        # Asked of the app itself, in-process: exactly the API's answer, through the same checks, cache
        # and model thread as a browser's request.
        answer = await asyncio.wait_for(inprocess.get(app, url, host="first-picture"), PICTURE_WAIT_SECONDS)
        if answer.status == 200:
            data = answer.json()
            block = pictures.block(url, data, await run_in_threadpool(draw, data, url))
    except asyncio.TimeoutError:
        # A long prompt or a queue of other requests: the rest of the page (and its code) goes out now
        # and its module asks as usual; a pass already running finishes into the engine's cache.
        pass
    except Exception:  # the page must never fail for its picture: its module asks again
        pictures.log.exception("first picture for %s", url)
    yield block
    yield below


@router.get("/vendor/{name}")
def vendor(name: str, request: Request) -> Response:
    """A front-end file, cached for a year (its name changes with its version), gzipped when the
    browser accepts it (compressed once per process, not per request)."""
    path = VENDOR.get(name)
    if path is None or not path.exists():
        return Response(status_code=404)
    headers = {**IMMUTABLE, "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(assets.gzipped(path), media_type="text/javascript",
                        headers={**headers, "Content-Encoding": "gzip"})
    return FileResponse(path, media_type="text/javascript", headers=headers)


@router.get("/", response_class=HTMLResponse)
def tour(request: Request) -> Response:
    return render(request, "index.html", "")


def _chapter_page(chapter: Chapter):
    def page(request: Request) -> Response:
        return render(request, f"{chapter.slug}.html", chapter.slug, chapter=chapter)
    page.__name__ = f"page_{chapter.slug}"
    return page


for _chapter in CHAPTERS:
    router.add_api_route(_chapter.path, _chapter_page(_chapter), methods=["GET"], response_class=HTMLResponse)
