"""The OpenAPI document (/openapi.json) and a page that renders it (/docs).

/docs is Swagger UI from the `flask-swagger-ui` package's own files (its `dist/` folder; only
those files, none of its blueprint or template), with a page and a start script of ours: no
CDN, nothing inline, so the Content-Security-Policy allows scripts, styles and fetches from
'self' only (images also from `data:`: Swagger UI's stylesheet draws its icons as data: URIs,
which load nothing). Swagger UI's validator badge (an image from validator.swagger.io) is off.

Served in every CREDSVC_MODE, like /openapi.json (this blueprint is in api.PROBES): the page
holds no data and needs no auth, and each mode's page shows exactly that mode's routes, so a
worker's page documents the internal API its callers use.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from flask import Blueprint, Response, current_app, send_from_directory

from credsvc.api.operations import not_in_the_api, operation
from credsvc.errors import NotFound
from credsvc.schemas import responses as res

bp = Blueprint("openapi", __name__)


@bp.get("/openapi.json")
@operation(response=res.OpenApiDocumentSchema, errors=(500,))
def openapi_document():
    """This document (see credsvc.openapi)."""
    from credsvc.openapi import build_spec

    return build_spec(current_app)


# -- /docs ------------------------------------------------------------------------------------

SWAGGER_UI = Path(str(files("flask_swagger_ui") / "dist"))
# The package files the page uses, and their types; any other name is the JSON 404.
ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
ASSET_MAX_AGE = 3600

# Relative URLs: the page is /docs, so "docs/x" is /docs/x and "openapi.json" is /openapi.json.
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>credsvc API</title>
<link rel="stylesheet" href="docs/swagger-ui.css">
<link rel="icon" type="image/png" href="docs/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script src="docs/start.js"></script>
</body>
</html>
"""
START_SCRIPT = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
});
"""


def _strict(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/docs")
@not_in_the_api("an HTML page rendering /openapi.json")
def docs_page():
    """The API reference, rendered by Swagger UI from /openapi.json."""
    return _strict(Response(PAGE, mimetype="text/html"))


@bp.get("/docs/start.js")
@not_in_the_api("the docs page's start script")
def docs_start_script():
    """Starts Swagger UI on the page (a file, so the CSP needs no inline script)."""
    response = Response(START_SCRIPT, mimetype="text/javascript")
    response.cache_control.max_age = ASSET_MAX_AGE
    return _strict(response)


@bp.get("/docs/<name>")
@not_in_the_api("Swagger UI's files (flask-swagger-ui)")
def docs_asset(name: str):
    """One of Swagger UI's files, from the installed package."""
    if name not in ASSETS:
        raise NotFound()
    response = send_from_directory(
        SWAGGER_UI, name, mimetype=ASSETS[name], max_age=ASSET_MAX_AGE, conditional=True
    )
    return _strict(response)
