"""The OpenAPI document: complete, consistent with the routes, valid, cached, served."""

from __future__ import annotations

import json

import pytest

from credsvc.openapi import ROUTES, SECURITY_SCHEMES, app_routes, build_spec, openapi_path


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
    print(f"openapi coverage: routes={len(served)} documented={len(in_document)} "
          f"missing={len(missing)} extra={len(extra)}")
    assert not missing, f"routes without documentation: {sorted(missing)}"
    assert not extra, f"documented routes the app does not serve: {sorted(extra)}"


def test_the_table_lists_exactly_the_served_routes(app):
    assert set(ROUTES) == app_routes(app)


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


@pytest.mark.parametrize("mode", ["full", "ingest", "worker"])
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
