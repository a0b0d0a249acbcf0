"""Marshmallow schemas for every request body of the credentials API.

Unknown fields are rejected (marshmallow's default RAISE), ids are UUIDs checked before any
Directus call, and cookie payloads are checked by `credsvc.cookies`. Loaded ids are strings.
"""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from credsvc import cookies
from credsvc.directus import FILTER_VALUE_RULE, reinterpreted_in_filter
from credsvc.services.session_health import REASONS


class FullMatch(validate.Regexp):
    """validate.Regexp (so the OpenAPI document shows the pattern) matched with re.fullmatch:
    Regexp's re.match with a pattern ending in `$` accepts a trailing newline ("instagram\\n")."""

    def __call__(self, value):
        if not isinstance(value, str) or self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


def _not_a_filter_keyword(value: str) -> None:
    # Platforms reach Directus filters; "null" would match rows without a platform.
    if reinterpreted_in_filter(value):
        raise ValidationError(FILTER_VALUE_RULE)


PLATFORM = [
    FullMatch(
        r"^[a-z0-9][a-z0-9_.-]{0,63}$",
        error="must be a lowercase platform identifier such as instagram, tiktok or youtube",
    ),
    _not_a_filter_keyword,
]
MAX_FIELD_NAME_LENGTH = 128
OUTPUT_FORMATS = ("json", "netscape", "playwright")


class Uuid(fields.UUID):
    """A UUID field that loads to its canonical lowercase string."""

    def _deserialize(self, value, attr, data, **kwargs):
        return str(super()._deserialize(value, attr, data, **kwargs))


def _text(max_length: int = 255, **kwargs) -> fields.String:
    return fields.String(validate=validate.Length(max=max_length), **kwargs)


def _check_field_names(value: dict) -> None:
    # Checked here rather than with keys=String(validate=...): marshmallow would report the
    # error under the offending name, quoting it back.
    if any(not 1 <= len(name) <= MAX_FIELD_NAME_LENGTH for name in value):
        raise ValidationError(f"field names must be 1-{MAX_FIELD_NAME_LENGTH} characters")


def _credentials(**kwargs) -> fields.Dict:
    return fields.Dict(
        keys=fields.String(),
        required=True,
        validate=[
            validate.Length(min=1, error="must contain at least one field"),
            _check_field_names,
        ],
        **kwargs,
    )


class CreateProfileSchema(Schema):
    platform = fields.String(required=True, validate=PLATFORM)
    platform_username = _text(allow_none=True)
    credentials = _credentials()


class UpdateProfileCredsSchema(Schema):
    creator_profile_id = Uuid(required=True)
    credentials = _credentials()
    platform_username = _text(allow_none=True)


class StoreSchema(Schema):
    creatorProfileId = Uuid(required=True)
    credentials = _credentials()


class RevealSchema(Schema):
    creatorProfileId = Uuid(required=True)


class CreateDownloadCredSchema(Schema):
    platform = fields.String(required=True, validate=PLATFORM)
    creator_profile_id = Uuid(required=True)
    auth_type = fields.String(required=True, validate=validate.OneOf(("password", "cookies")))
    username = _text(allow_none=True)
    credentials = _credentials()
    display_name = _text(allow_none=True)

    @validates_schema
    def check_credentials_shape(self, data, **kwargs):
        creds = data.get("credentials") or {}
        if data.get("auth_type") == "password":
            if set(creds) != {"password"} or not isinstance(creds["password"], str):
                raise ValidationError(
                    'password auth needs exactly {"password": "<string>"}', "credentials"
                )
            if not creds["password"]:
                raise ValidationError("password must not be empty", "credentials")
        elif data.get("auth_type") == "cookies":
            text = creds.get("cookies_netscape")
            if set(creds) != {"cookies_netscape"} or not isinstance(text, str):
                raise ValidationError(
                    'cookies auth needs exactly {"cookies_netscape": "<Netscape cookie file>"}',
                    "credentials",
                )
            try:
                cookies.parse_netscape(text)
            except cookies.NetscapeFormatError as exc:
                raise ValidationError(f"cookies_netscape {exc}", "credentials") from None


class RevealDownloadCredSchema(Schema):
    id = Uuid(required=True)
    format = fields.String(validate=validate.OneOf(OUTPUT_FORMATS + ("ytdlp",)))


# What credsvc.cookies.from_extension reads (documentation only: validation is that function's,
# so its messages name the cookie's index and field). Unknown keys are ignored.
_BOOL = {"type": "boolean", "nullable": True}
_SECONDS = {"type": "number", "nullable": True}
COOKIE_INPUT = {
    "description": "A cookie in the extension's shape, Chrome's chrome.cookies.Cookie or "
    "Playwright's; expires/expirationDate in unix seconds (missing, null, -1 or 0: a session "
    "cookie). Either domain (+ path, default /) or url. docs/cookies.md",
    "required": ["name", "value"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "value": {"type": "string"},
        "domain": {"type": "string", "minLength": 1},
        "path": {"type": "string", "pattern": "^/"},
        "url": {"type": "string", "description": "Playwright: instead of domain and path."},
        "expires": _SECONDS,
        "expirationDate": _SECONDS,
        "session": _BOOL,
        "hostOnly": _BOOL,
        "httpOnly": _BOOL,
        "secure": _BOOL,
        "sameSite": {
            "type": "string",
            "nullable": True,
            "description": "Strict, Lax or None; Chrome's no_restriction, lax, strict, "
            "unspecified (any case).",
        },
    },
    "additionalProperties": True,
}


class StorePlatformSessionSchema(Schema):
    creator_profile_id = Uuid(required=True)
    platform = fields.String(required=True, validate=PLATFORM)
    cookies = fields.List(
        fields.Dict(metadata=COOKIE_INPUT), required=True, validate=validate.Length(min=1, max=1000)
    )
    user_agent = _text(1024, allow_none=True)
    expires_at = fields.AwareDateTime(allow_none=True, default_timezone=None)

    @post_load
    def normalize_cookies(self, data, **kwargs):
        try:
            data["cookies"] = cookies.from_extension(data["cookies"])
        except cookies.CookieFormatError as exc:
            raise ValidationError(str(exc), "cookies") from None
        return data


class GetPlatformSessionSchema(Schema):
    creator_profile_id = Uuid(required=True)
    platform = fields.String(required=True, validate=PLATFORM)
    format = fields.String(validate=validate.OneOf(OUTPUT_FORMATS))


class RevokePlatformSessionSchema(Schema):
    id = Uuid(required=True)


class ReportPlatformSessionSchema(Schema):
    id = Uuid(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(tuple(REASONS)))


create_profile = CreateProfileSchema()
update_profile_creds = UpdateProfileCredsSchema()
store = StoreSchema()
reveal = RevealSchema()
create_download_cred = CreateDownloadCredSchema()
reveal_download_cred = RevealDownloadCredSchema()
store_platform_session = StorePlatformSessionSchema()
get_platform_session = GetPlatformSessionSchema()
revoke_platform_session = RevokePlatformSessionSchema()
report_platform_session = ReportPlatformSessionSchema()
