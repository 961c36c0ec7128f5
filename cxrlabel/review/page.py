"""Render a ReviewPage as one self-contained HTML file (jinja2 with autoescaping; the CSS, JS and graph JSON
are inlined, so the page needs no network and works from a file:// URL)."""

from __future__ import annotations

import json
from importlib.resources import files

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from cxrlabel.review.assemble import COUNTED
from cxrlabel.review.layout import sentence_pieces
from cxrlabel.review.model import ReviewPage, label_token

TEMPLATES = files("cxrlabel.review") / "templates"


def script_json(value: object) -> Markup:
    """JSON safe inside a <script> element: no '<', '>' or '&' that could close it or start a comment."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return Markup(text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e"))


def render_page(page: ReviewPage) -> str:
    environment = Environment(loader=PackageLoader("cxrlabel.review", "templates"), autoescape=True,
                              undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters["token"] = label_token
    environment.globals["pieces"] = sentence_pieces
    template = environment.get_template("review.html.j2")
    return template.render(
        page=page, counted=COUNTED, graphs_json=script_json(page.graphs),
        css=Markup((TEMPLATES / "review.css").read_text(encoding="utf-8")),
        js=Markup((TEMPLATES / "review.js").read_text(encoding="utf-8")),
    )
