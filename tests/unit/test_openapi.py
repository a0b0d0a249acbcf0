"""The OpenAPI document: built from the views' declarations, complete, valid, cached, served;
the /docs page that renders it."""

from __future__ import annotations

import json
import re

import pytest

from credsvc.api.operations import NotInTheApi, Operation, operation_of
from credsvc.api.operations import operation as declare
from credsvc.openapi import (
    SECURITY_SCHEMES,
    Undeclared,
    app_routes,
    build_spec,
    declarations,
    openapi_path,
)
from credsvc.schemas import responses as res


@pytest.fixture
def document(app):
    return build_spec(app)


def documented(document) -> set[tuple[str, str]]:
    return {
        (path, method.upper())
        for path, operations in document["paths"].items()
        for method in operations
    }


def test_every_route_is_documented_and_vice_versa(app, document):
    served = {(openapi_path(rule), method) for rule, method in app_routes(app)}
    in_document = documented(document)
    missing, extra = served - in_document, in_document - served
    print(
        f"openapi coverage: routes={len(served)} documented={len(in_document)} "
        f"missing={len(missing)} extra={len(extra)}"
    )
    assert not missing, f"routes without documentation: {sorted(missing)}"
    assert not extra, f"documented routes the app does not serve: {sorted(extra)}"


def all_views_apps():
    """An app of each mode, with the metrics route too: every view the code can serve."""
    from credsvc import create_app
    from tests.unit.test_callers import mode_env

    return [create_app({**mode_env(mode), "METRICS_TOKEN": "m" * 32}) for mode in MODES]


MODES = ["full", "ingest", "worker"]


def test_every_served_view_declares_its_operation_or_why_it_is_not_one():
    checked = set()
    for app in all_views_apps():
        for rule, method, endpoint, declared in declarations(app):
            assert isinstance(declared, Operation | NotInTheApi), (
                f"{method} {rule} ({endpoint}): add @operation (credsvc.api.operations)"
            )
            checked.add(endpoint)
    assert {"metrics.exposition", "openapi.docs_page", "workers.reveal"} <= checked
    print(f"declared views: {len(checked)}")


def test_a_view_without_a_declaration_stops_the_document(env):
    from credsvc import create_app

    app = create_app(env)
    app.add_url_rule("/api/credentials/forgotten", "forgotten", lambda: {}, methods=["GET"])
    with pytest.raises(Undeclared, match="forgotten"):
        build_spec(app)


def test_a_declared_request_schema_is_loaded_and_passed_as_body(app):
    from marshmallow import Schema, fields

    class Echo(Schema):
        word = fields.String(required=True)

    @declare(request=Echo(), response=res.OkSchema)
    def echo(body):
        """Echo."""
        return {"ok": True, "word": body["word"]}

    assert operation_of(echo).request.__class__ is Echo
    with app.test_request_context(json={"word": "hi"}):
        assert echo() == {"ok": True, "word": "hi"}
    with app.test_request_context(json={"nope": 1}):
        with pytest.raises(Exception, match="word: Missing data for required field"):
            echo()


def test_a_declared_view_needs_a_docstring():
    with pytest.raises(TypeError, match="docstring"):
        declare(response=res.OkSchema)(lambda: {})


def test_operation_ids_are_the_endpoints_and_unique(document):
    ids = [
        operation["operationId"]
        for operations in document["paths"].values()
        for operation in operations.values()
    ]
    assert len(ids) == len(set(ids)) >= 14
    assert document["paths"]["/api/credentials/reveal"]["post"]["operationId"] == (
        "internal_credentials.reveal"
    )
    assert (
        document["paths"]["/v1/end-users/{end_user_id}/credentials"]["put"]["operationId"]
        == "end_users.set_credentials"
    )


def test_auth_comes_from_the_blueprint_guard(app, document):
    expected = {
        "user_credentials": "directusJwt",
        "internal_credentials": "rbacSyncSecret",
        "workers": "rbacSyncSecret",
        "end_users": "businessApiKey",
        "health": None,
        "openapi": None,
    }
    for operations in document["paths"].values():
        for operation in operations.values():
            blueprint = operation["operationId"].split(".")[0]
            names = [name for entry in operation["security"] for name in entry]
            assert names == ([expected[blueprint]] if expected[blueprint] else []), operation


def test_cookie_objects_are_described_field_by_field(document):
    schemas = document["components"]["schemas"]
    cookie = schemas["Cookie"]
    assert set(cookie["required"]) == {
        "name",
        "value",
        "domain",
        "path",
        "expires",
        "httpOnly",
        "secure",
    }
    assert cookie["properties"]["sameSite"]["enum"] == ["Strict", "Lax", "None"]
    assert cookie["additionalProperties"] is False
    ref = {"$ref": "#/components/schemas/Cookie"}
    assert schemas["GetPlatformSessionResponse"]["properties"]["cookies"]["oneOf"][0] == {
        "type": "array",
        "items": ref,
    }
    assert schemas["RevealedPlatform"]["properties"]["cookies"]["oneOf"][0]["items"] == ref
    stored = schemas["StorePlatformSession"]["properties"]["cookies"]["items"]
    assert {
        "name",
        "value",
        "domain",
        "path",
        "expires",
        "expirationDate",
        "url",
        "httpOnly",
        "secure",
        "sameSite",
    } <= set(stored["properties"])
    assert set(schemas["Problem"]["required"]) == {"index", "name", "domain", "reason", "dropped"}


def test_cookie_schema_matches_what_the_cookie_writers_produce():
    jsonschema = pytest.importorskip("jsonschema_rs")
    from credsvc import cookies
    from credsvc.openapi import _new_spec

    spec = _new_spec().to_dict()
    schema = _nullable_to_draft(spec["components"]["schemas"]["Cookie"])
    jar = cookies.from_extension(
        [
            res.COOKIE_EXAMPLE,
            {"name": "s", "value": "", "domain": "example.com", "path": "/", "expires": -1},
        ]
    )
    for fmt in ("json", "playwright"):
        for written in cookies.render(jar, fmt).output:
            assert jsonschema.validator_for(schema).is_valid(written), (fmt, written)
    assert not jsonschema.validator_for(schema).is_valid({**res.COOKIE_EXAMPLE, "extra": 1})


def test_auth_schemes_and_operation_security(document):
    assert set(document["components"]["securitySchemes"]) == set(SECURITY_SCHEMES)
    assert document["components"]["securitySchemes"]["rbacSyncSecret"]["name"] == (
        "X-RBAC-SYNC-SECRET"
    )
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            names = {name for entry in operation["security"] for name in entry}
            if path.startswith("/v1/"):
                assert names == {"businessApiKey"}, (path, method)
            elif path.startswith("/api/"):
                assert names <= {"directusJwt", "rbacSyncSecret"} and len(names) == 1
            if names:
                assert "401" in operation["responses"], (path, method)


def test_error_responses_use_the_family_shape(document):
    schemas = document["components"]["schemas"]
    assert schemas["CredentialsError"]["required"] == ["error", "success"]
    for path, operations in document["paths"].items():
        family = "EndUserError" if path.startswith("/v1/") else "CredentialsError"
        for operation in operations.values():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref == f"#/components/schemas/{family}", (path, status)


def test_request_bodies_come_from_the_marshmallow_schemas(document):
    schemas = document["components"]["schemas"]
    create = schemas["CreateProfile"]
    assert set(create["required"]) == {"platform", "credentials"}
    assert create["additionalProperties"] is False  # unknown fields are rejected
    assert "user_id" not in create["properties"]
    assert schemas["Reveal"]["properties"]["creatorProfileId"]["format"] == "uuid"
    assert schemas["CreateDownloadCred"]["properties"]["credentials"]["minProperties"] == 1


def test_examples_validate_against_their_response_schemas(document):
    jsonschema = pytest.importorskip("jsonschema_rs")
    schemas = document["components"]["schemas"]
    checked = 0
    for operations in document["paths"].values():
        for operation in operations.values():
            media = operation["responses"]["200"]["content"]["application/json"]
            if "example" not in media:
                continue
            name = media["schema"]["$ref"].rsplit("/", 1)[1]
            schema = dict(schemas[name], components={"schemas": schemas})
            validator = jsonschema.validator_for(_nullable_to_draft(schema))
            assert validator.is_valid(media["example"]), name
            checked += 1
    assert checked >= 10


def _nullable_to_draft(schema):
    """OpenAPI 3.0 `nullable` -> JSON Schema type lists, so a plain validator can check."""
    if isinstance(schema, dict):
        out = {key: _nullable_to_draft(value) for key, value in schema.items()}
        if out.pop("nullable", False) and "type" in out:
            out["type"] = [out["type"], "null"]
        return out
    if isinstance(schema, list):
        return [_nullable_to_draft(value) for value in schema]
    return schema


def test_document_is_an_openapi_3_document(document):
    schemathesis = pytest.importorskip("schemathesis")
    # Validates against the OpenAPI 3.0 meta-schema; raises when the document is invalid.
    schemathesis.openapi.from_dict(json.loads(json.dumps(document))).validate()


def test_document_is_cached_per_app(app, env):
    from credsvc import create_app

    assert build_spec(app) is build_spec(app)
    assert build_spec(create_app(env)) is not build_spec(app)


def test_served_at_openapi_json(client, document):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.get_json() == json.loads(json.dumps(document))
    assert response.get_json()["openapi"].startswith("3.")


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_documents_exactly_the_routes_it_serves(mode):
    from credsvc import create_app
    from tests.unit.test_callers import mode_env

    app = create_app(mode_env(mode))
    served = {(openapi_path(rule), method) for rule, method in app_routes(app)}
    in_document = documented(build_spec(app))
    assert in_document == served
    shared_secret = {
        path
        for path, operations in build_spec(app)["paths"].items()
        for operation in operations.values()
        if {"rbacSyncSecret": []} in operation["security"]
    }
    assert bool(shared_secret) == (mode != "ingest")


def test_shared_secret_operations_document_the_403_of_a_caller_outside_its_scope(document):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if {"rbacSyncSecret": []} in operation["security"]:
                assert "403" in operation["responses"], (path, method)


def test_request_examples_load_with_their_request_schemas(app):
    from credsvc.openapi import operations

    loaded = 0
    for (rule, method), (_, declared) in operations(app).items():
        if declared.request is not None:
            assert declared.request_example is not None, (method, rule)
            declared.request.load(declared.request_example)
            loaded += 1
    assert loaded >= 11


# -- /docs -----------------------------------------------------------------------------------

EXTERNAL_URL = re.compile(r"""(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}""", re.IGNORECASE)
STRICT_CSP = {
    "default-src": "'none'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "base-uri": "'none'",
    "form-action": "'none'",
    "frame-ancestors": "'none'",
}


def csp(response) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in policy.split(";"))


def test_docs_page_loads_swagger_ui_from_the_service_only(client):
    page = client.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert not EXTERNAL_URL.search(html), html
    assert "<script>" not in html and " style=" not in html  # nothing inline for the CSP
    assert csp(page) == STRICT_CSP
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    referenced = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert referenced == [
        "docs/swagger-ui.css",
        "docs/favicon-32x32.png",
        "docs/swagger-ui-bundle.js",
        "docs/start.js",
    ]
    types = {".css": "text/css", ".js": "text/javascript", ".png": "image/png"}
    for relative in referenced:
        asset = client.get("/" + relative)
        assert asset.status_code == 200, relative
        assert asset.mimetype == types[relative[relative.rindex(".") :]], relative
        assert csp(asset) == STRICT_CSP, relative
        assert len(asset.get_data()) > 100, relative
        asset.close()


def test_docs_start_script_reads_this_services_document_and_no_validator(client):
    script = client.get("/docs/start.js").get_data(as_text=True)
    assert 'url: "openapi.json"' in script
    assert "validatorUrl: null" in script  # else Swagger UI loads a badge from swagger.io
    assert not EXTERNAL_URL.search(script), script


def test_docs_assets_come_from_the_installed_package(client):
    from importlib.resources import files

    packaged = (files("flask_swagger_ui") / "dist" / "swagger-ui-bundle.js").read_bytes()
    response = client.get("/docs/swagger-ui-bundle.js")
    assert response.get_data() == packaged
    response.close()


@pytest.mark.parametrize(
    "name", ["index.html", "oauth2-redirect.html", "LICENSE", "..%2Fx", "swagger-ui.js"]
)
def test_docs_serve_only_the_listed_assets(client, name):
    response = client.get(f"/docs/{name}")
    assert response.status_code == 404
    assert response.get_json() == {"success": False, "error": "Not found"}


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_serves_the_docs_page(mode):
    from credsvc import create_app
    from tests.unit.test_callers import mode_env

    client = create_app(mode_env(mode)).test_client()
    assert client.get("/docs").status_code == 200
    assert "/docs" not in client.get("/openapi.json").get_json()["paths"]
