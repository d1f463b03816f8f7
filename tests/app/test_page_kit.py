"""The shared front-end kit's server side: every page carries the model's shape in its markup."""

import html
import json
import re

import pytest

from app.routers.pages import CHAPTERS


@pytest.mark.parametrize("path", ["/"] + [c.path for c in CHAPTERS])
def test_every_page_carries_the_model_shape_that_api_model_answers(tiny_client, path):
    page = tiny_client.get(path).text
    found = re.search(r'<body[^>]* data-model="([^"]*)"', page)
    assert found, f"{path} has no data-model on <body>"
    assert json.loads(html.unescape(found.group(1))) == tiny_client.get("/api/model").json()
