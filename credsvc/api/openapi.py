"""The OpenAPI 3 document of both API families, built from the marshmallow schemas."""

from flask import Blueprint, current_app

bp = Blueprint("openapi", __name__)


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI document (see credsvc.openapi)."""
    from credsvc.openapi import build_spec

    return build_spec(current_app)
