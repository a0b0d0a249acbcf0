"""Marshmallow schemas of response bodies. Used only to document the API (credsvc.openapi).

Views build their answers as plain dicts; these schemas describe them, and the schemathesis
run checks every live answer against the document they produce. Unknown members are not
allowed (marshmallow's RAISE becomes `additionalProperties: false`), so a field added to a
view without being documented here fails that run.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

COOKIE_FORMATS = ["json", "netscape", "playwright"]


def _true(**kwargs) -> fields.Boolean:
    return fields.Boolean(required=True, metadata={"enum": [True], **kwargs})


def _false() -> fields.Boolean:
    return fields.Boolean(required=True, metadata={"enum": [False]})


# -- errors, one shape per family ---------------------------------------------------------


class CredentialsErrorSchema(Schema):
    """Every error of /api/* and the probes: `{"success": false, "error": "..."}`."""

    success = _false()
    error = fields.String(required=True, metadata={"description": "A public message."})


class EndUserErrorSchema(Schema):
    """Every error under /v1/: `{"ok": false, "error": "..."}`."""

    ok = _false()
    error = fields.String(required=True, metadata={"description": "A public message."})


# -- probes and the document ----------------------------------------------------------------


class HealthSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(["ok"]))


class ReadySchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(["ready"]))


class OpenApiDocumentSchema(Schema):
    class Meta:
        unknown = "include"

    openapi = fields.String(required=True)
    info = fields.Dict(required=True)
    paths = fields.Dict(required=True)


# -- the credentials API ----------------------------------------------------------------------

CREDENTIALS_OBJECT = {
    "description": "The decrypted credentials object, as it was stored.",
}
PROBLEM = {
    "type": "object",
    "description": "Something a cookie format could not represent (never a value).",
}


class CreateProfileResponseSchema(Schema):
    success = _true()
    id = fields.UUID(required=True)
    updated = fields.Boolean(required=True)


class IdResponseSchema(Schema):
    success = _true()
    id = fields.UUID(required=True)


class StoreResponseSchema(Schema):
    success = _true()
    creatorProfileId = fields.UUID(required=True)
    updated = fields.UUID(required=True)


class RevealResponseSchema(Schema):
    success = _true()
    creatorProfileId = fields.UUID(required=True)
    credentials = fields.Dict(required=True, metadata=CREDENTIALS_OBJECT)


class YtdlpOptionsSchema(Schema):
    username = fields.String(required=True, allow_none=True)
    password = fields.String(required=True)


class RevealDownloadCredResponseSchema(Schema):
    success = _true()
    id = fields.UUID(required=True)
    platform = fields.String(required=True)
    auth_type = fields.String(required=True, validate=validate.OneOf(["password", "cookies"]))
    username = fields.String(required=True, allow_none=True)
    format = fields.String(
        required=True, validate=validate.OneOf(["json", "netscape", "playwright", "ytdlp"])
    )
    credentials = fields.Dict(required=True, metadata=CREDENTIALS_OBJECT)
    ytdlp_options = fields.Nested(YtdlpOptionsSchema)
    problems = fields.List(fields.Dict(metadata=PROBLEM))


class StorePlatformSessionResponseSchema(Schema):
    success = _true()
    id = fields.UUID(required=True)
    platform = fields.String(required=True)
    cookie_count = fields.Integer(required=True, validate=validate.Range(min=1))


class GetPlatformSessionResponseSchema(Schema):
    success = _true()
    id = fields.UUID(required=True)
    platform = fields.String(required=True)
    cookies = fields.Raw(
        required=True,
        metadata={
            "description": "A list of cookie objects (json, playwright) or a Netscape "
            "cookies.txt (netscape).",
            "oneOf": [{"type": "array", "items": {"type": "object"}}, {"type": "string"}],
        },
    )
    format = fields.String(required=True, validate=validate.OneOf(COOKIE_FORMATS))
    captured_at = fields.String(required=True, allow_none=True)
    expires_at = fields.String(required=True, allow_none=True)
    user_agent = fields.String(required=True, allow_none=True)
    expired = fields.Boolean(required=True)
    problems = fields.List(fields.Dict(metadata=PROBLEM))


# -- the end-user API -----------------------------------------------------------------------


class OkSchema(Schema):
    ok = _true()


class PlatformStatusSchema(Schema):
    configured = fields.Boolean(required=True)
    fields_ = fields.Dict(
        data_key="fields",
        required=True,
        keys=fields.String(),
        values=fields.Boolean(),
        metadata={"description": "One flag per credential field of the platform."},
    )


class CredentialStatusResponseSchema(Schema):
    ok = _true()
    endUserId = fields.String(required=True)
    platforms = fields.Dict(
        required=True,
        keys=fields.String(),
        values=fields.Nested(PlatformStatusSchema),
        metadata={"description": "Per platform: flags only, never values."},
    )


class RevealedPlatformSchema(Schema):
    cookies = fields.Raw(
        required=True,
        metadata={
            "description": "Cookie objects (json, playwright) or a Netscape cookies.txt.",
            "oneOf": [{"type": "array", "items": {"type": "object"}}, {"type": "string"}],
        },
    )
    missing = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "Fields of this platform that were never uploaded."},
    )


class RevealEndUserResponseSchema(Schema):
    success = _true()
    businessId = fields.String(required=True)
    endUserId = fields.String(required=True)
    format = fields.String(required=True, validate=validate.OneOf(COOKIE_FORMATS))
    platforms = fields.Dict(
        required=True, keys=fields.String(), values=fields.Nested(RevealedPlatformSchema)
    )
