"""OpenAPI document generation (being written)."""


def build_spec(app) -> dict:
    return {"openapi": "3.0.3", "info": {"title": "credsvc", "version": "0.1.0"}, "paths": {}}
