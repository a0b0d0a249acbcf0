"""Marshmallow schemas of response bodies. Used only to document the API (credsvc.openapi).

Views build their answers as plain dicts; these schemas describe them, and the schemathesis
run checks every live answer against the document they produce. Unknown members are not
allowed (marshmallow's RAISE becomes `additionalProperties: false`), so a field added to a
view without being documented here fails that run.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from credsvc.services.session_health import REASONS, STATUSES

COOKIE_FORMATS = ["json", "netscape", "playwright"]
SESSION_STATUSES = list(STATUSES)
RECAPTURE_REASONS = list(REASONS)


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
    """Every error of the end-user API: `{"ok": false, "error": "..."}` (errors.envelope_key)."""

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


# -- cookies, as credsvc.cookies writes them --------------------------------------------------


class CookieSchema(Schema):
    """One cookie as the json and playwright formats write it (credsvc.cookies.to_extension,
    to_playwright): Playwright's `add_cookies` entry in its domain + path form."""

    name = fields.String(required=True)
    value = fields.String(required=True)
    domain = fields.String(
        required=True, metadata={"description": "A leading dot: the domain and its subdomains."}
    )
    path = fields.String(required=True, metadata={"pattern": "^/"})
    expires = fields.Float(
        required=True, metadata={"description": "Unix seconds; -1 for a session cookie."}
    )
    httpOnly = fields.Boolean(required=True)
    secure = fields.Boolean(required=True)
    sameSite = fields.String(
        validate=validate.OneOf(["Strict", "Lax", "None"]),
        metadata={"description": "Absent when unknown."},
    )


class ProblemSchema(Schema):
    """Something a cookie format could not represent, or a stored cookie that today's validation
    refuses (dropped: true); index is its stored position. Never a value."""

    index = fields.Integer(
        required=True,
        validate=validate.Range(min=-1),
        metadata={"description": "Position in the input; -1: the stored value as a whole."},
    )
    name = fields.String(required=True)
    domain = fields.String(required=True)
    reason = fields.String(required=True)
    dropped = fields.Boolean(
        required=True, metadata={"description": "Left out of the output (true) or kept."}
    )


COOKIE_REF = {"$ref": "#/components/schemas/Cookie"}
# `cookies` of a session: cookie objects (json, playwright) or a cookies.txt (netscape).
COOKIES = {
    "description": "A list of cookie objects (json, playwright) or a Netscape cookies.txt "
    "(netscape).",
    "oneOf": [{"type": "array", "items": COOKIE_REF}, {"type": "string"}],
}
COOKIE_EXAMPLE = {
    "name": "sessionid",
    "value": "123456789%3AabcXYZ%3A28",
    "domain": ".instagram.com",
    "path": "/",
    "expires": 1924992000,
    "httpOnly": True,
    "secure": True,
    "sameSite": "Lax",
}
# Schemas referenced by name from metadata (the `oneOf`s above): registered by credsvc.openapi.
REFERENCED_SCHEMAS = {"Cookie": CookieSchema}


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
    problems = fields.List(fields.Nested(ProblemSchema))


class StorePlatformSessionResponseSchema(Schema):
    success = _true()
    id = fields.UUID(required=True)
    platform = fields.String(required=True)
    cookie_count = fields.Integer(required=True, validate=validate.Range(min=1))


class GetPlatformSessionResponseSchema(Schema):
    success = _true()
    id = fields.UUID(required=True)
    platform = fields.String(required=True)
    cookies = fields.Raw(required=True, metadata=COOKIES)
    format = fields.String(required=True, validate=validate.OneOf(COOKIE_FORMATS))
    captured_at = fields.String(required=True, allow_none=True)
    expires_at = fields.String(required=True, allow_none=True)
    user_agent = fields.String(required=True, allow_none=True)
    expired = fields.Boolean(required=True)
    problems = fields.List(fields.Nested(ProblemSchema))


class PlatformSchema(Schema):
    platform = fields.String(required=True, metadata={"description": "The API's key"})
    name = fields.String(required=True, metadata={"description": "For people"})
    cookie_domains = fields.List(fields.String(), required=True)
    login_url = fields.String(required=True)
    session_cookies = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "Cookies a capture must contain to be a signed-in session."},
    )


class PlatformsResponseSchema(Schema):
    success = _true()
    platforms = fields.List(fields.Nested(PlatformSchema), required=True)


class ProfileSummarySchema(Schema):
    id = fields.UUID(required=True)
    platform = fields.String(required=True)
    platform_username = fields.String(required=True, allow_none=True)


class SessionHealthSchema(Schema):
    id = fields.UUID(required=True)
    creator_profile_id = fields.UUID(required=True)
    platform = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(SESSION_STATUSES))
    reason = fields.String(
        required=True,
        allow_none=True,
        validate=validate.OneOf(RECAPTURE_REASONS),
        metadata={"description": "Why a worker reported it (needs_recapture, superseded)."},
    )
    captured_at = fields.String(required=True, allow_none=True)
    expires_at = fields.String(required=True, allow_none=True)
    cookie_count = fields.Integer(required=True, allow_none=True)
    reported_at = fields.String(required=True, allow_none=True)
    superseded_by = fields.UUID(required=True, allow_none=True)


class PlatformSessionsResponseSchema(Schema):
    success = _true()
    profiles = fields.List(fields.Nested(ProfileSummarySchema), required=True)
    sessions = fields.List(
        fields.Nested(SessionHealthSchema),
        required=True,
        metadata={"description": "Newest first; at most LIST_LIMIT; never a cookie value."},
    )


class ReportPlatformSessionResponseSchema(Schema):
    success = _true()
    id = fields.UUID(required=True)
    status = fields.String(
        required=True,
        validate=validate.OneOf(["needs_recapture", "superseded", "revoked"]),
        metadata={"description": "The session's status after the report."},
    )


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
    cookies = fields.Raw(required=True, metadata=COOKIES)
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
