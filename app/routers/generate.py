"""Generation: continue a text or answer a chat, token by token, as JSON or as a stream.
The handler parses, starts the run in `app/views/generate.py` and returns its tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request
from fastapi.responses import StreamingResponse

from app.deps import EngineDep
from app.schemas.common import ERRORS
from app.schemas.generate import GENERATE_EXAMPLES, GenerateIn, GenerateOut
from app.views import generate as view

# Request bodies with the examples /docs offers.
GenerateBody = Annotated[GenerateIn, Body(openapi_examples=GENERATE_EXAMPLES)]

router = APIRouter(prefix="/api", tags=["generate"])


# What the "stream" example request (GENERATE_EXAMPLES) sends on SmolLM2-135M-Instruct (pinned by
# tests/app/test_openapi.py).
STREAM_EXAMPLE = (
    'event: start\ndata: {"prompt_tokens": [{"id": 6403, "text": "Once", "start": 0, "end": 4, ...}, ...], '
    '"seed": 42}\n\n'
    'event: token\ndata: {"index": 0, "id": 28, "text": ",", "display": ",", "bytes": "2c", "partial": false, '
    '"special": false, "delta": ",", "probability": 0.93, "alternatives": [...]}\n\n'
    '...\n\n'
    'event: done\ndata: {"text": ", it\'s been suggested ...", "stop_reason": "max_new_tokens", "count": 20}\n\n')

STREAM_DOC = """With `"stream": true` the answer is a server-sent-event stream (`text/event-stream`), one
event as each token is drawn. Each event is an `event:` line naming it, a `data:` line of JSON and a
blank line:

| event | data |
| --- | --- |
| `start` | `{prompt_tokens, seed}`, as in the JSON answer |
| `token` | one `GeneratedToken`, as in `generated` |
| `done` | `{text, stop_reason, count}`: the JSON answer's `text` and `stop_reason`, and how many tokens were sent |
| `error` | `{detail, code: "busy"}`, instead of `done`, when the server became too busy to go on (retry in a few seconds) |

Errors found before the first token (a bad field, a prompt over the limit) are a plain JSON 4xx,
not a stream. Reading the stream from Python with httpx:

```python
import json, httpx

body = {"text": "Once upon a time", "max_new_tokens": 20, "seed": 42, "stream": True}
with httpx.stream("POST", "http://127.0.0.1:8000/api/generate", json=body, timeout=60) as r:
    r.raise_for_status()
    for line in r.iter_lines():
        if line.startswith("event: "):
            event = line[len("event: "):]
        elif line.startswith("data: "):
            data = json.loads(line[len("data: "):])
            if event == "token":
                print(data["delta"], end="", flush=True)
            elif event in ("done", "error"):
                print()
                print(event, data)
```
"""


@router.post("/generate", response_model=GenerateOut, summary="Generate from text or chat messages",
             description="""Continue `text`, or answer `messages` through the model's chat template, one
token at a time (each step reuses the key/value cache). Temperature 0 is greedy: its first token is the
first of POST /api/predict's `predictions` for the same text. The same `seed` and settings give the
same tokens; without one the server picks a seed and returns it. To continue from the tokens generated,
send the same `text` with their ids appended to `append_ids` (ids, not their text: a token can be a
piece of a character).

""" + STREAM_DOC, responses={
    **ERRORS, 200: {"description": "The generated tokens (JSON), or with `stream` an event stream.",
                    "content": {"text/event-stream": {"schema": {"type": "string"}, "example": STREAM_EXAMPLE}}}})
async def generate_tokens(body: GenerateBody, engine: EngineDep, request: Request):
    """Continue `text`, or answer `messages` through the chat template, one token at a time."""
    run = await view.start(body, engine)
    if body.stream:
        return StreamingResponse(view.event_stream(run, body, engine, request), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    return await view.generate_out(run, body, engine, request)
