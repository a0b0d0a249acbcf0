"""Marshmallow schemas of the end-user API (/v1/end-users/*) and the workers' endpoint.

The twelve credential fields come from `credsvc.platforms`, the one cookie table. A value is a
non-empty string of at most 4096 characters that is a valid cookie value (no control
characters, no ';', no surrounding spaces), or `null` to clear that one field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from credsvc import cookies, platforms
from credsvc.directus import FILTER_VALUE_RULE, reinterpreted_in_filter

MAX_VALUE_LENGTH = 4096
MAX_END_USER_ID_LENGTH = 256
NO_FIELDS = "No recognized credential fields supplied"
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# What a CLI-created business id may look like (api_keys.business_id is 128 characters).
# \A...\Z, not ^...$: `$` also matches before a trailing newline ("acme\n").
BUSINESS_ID = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}\Z")
BUSINESS_ID_RULE = "must be 1-128 of A-Z a-z 0-9 . _ : @ - (starting alphanumeric)"


def end_user_id_problem(end_user_id: str) -> str | None:
    """Why `end_user_id` is not a usable endUserId, or None."""
    if not end_user_id:
        return "endUserId must not be empty"
    if len(end_user_id) > MAX_END_USER_ID_LENGTH:
        return f"endUserId must be at most {MAX_END_USER_ID_LENGTH} characters"
    if CONTROL.search(end_user_id):
        return "endUserId must not contain control characters"
    # "a/b" is fine, but empty, "." and ".." segments are what URL normalisers (clients, proxies)
    # rewrite, so the id would reach us as another end user's.
    if any(segment in ("", ".", "..") for segment in end_user_id.split("/")):
        return "endUserId must not start or end with '/', contain '//', or '.' or '..' segments"
    return None


def _check_end_user_id(value: str) -> None:
    problem = end_user_id_problem(value)
    if problem:
        raise ValidationError(problem.removeprefix("endUserId "))


def business_id_problem(business_id: str) -> str | None:
    """Why `business_id` is not a usable business id (without naming the field), or None."""
    if not BUSINESS_ID.fullmatch(business_id):
        return BUSINESS_ID_RULE
    if reinterpreted_in_filter(business_id):  # "null" would match rows without a business
        return FILTER_VALUE_RULE
    return None


def _check_business_id(value: str) -> None:
    problem = business_id_problem(value)
    if problem:
        raise ValidationError(problem)


def _cookie_value(spec: platforms.CookieSpec):
    def check(value: str) -> None:
        try:
            spec.cookie(value)
        except cookies.CookieFormatError as exc:
            raise ValidationError(exc.reason) from None

    return check


def _credential(spec: platforms.CookieSpec) -> fields.String:
    length = validate.Length(
        min=1,
        max=MAX_VALUE_LENGTH,
        error=f"must be a non-empty string of at most {MAX_VALUE_LENGTH} characters, or null",
    )
    return fields.String(allow_none=True, validate=[length, _cookie_value(spec)])


class _SetCredentialsBase(Schema):
    """Fields are added from the cookie table below; unknown ones are rejected by name."""

    def load(self, data: Any, **kwargs) -> Any:
        # An empty body, or one with only unknown names, gets the spec's message; the unknown
        # names are listed so a typo ("twitterAuthtoken") is easy to spot.
        if isinstance(data, Mapping) and not any(name in platforms.FIELDS for name in data):
            unknown = ", ".join(sorted(str(name) for name in data))
            raise ValidationError(f"{NO_FIELDS} (unknown: {unknown})" if unknown else NO_FIELDS)
        return super().load(data, **kwargs)


SetCredentialsSchema = _SetCredentialsBase.from_dict(
    {field: _credential(spec) for field, spec in platforms.FIELDS.items()},
    name="SetCredentialsSchema",
)


class RevealEndUserCredentialsSchema(Schema):
    businessId = fields.String(required=True, validate=_check_business_id)
    endUserId = fields.String(required=True, validate=_check_end_user_id)
    platforms = fields.List(
        fields.String(validate=validate.OneOf(list(platforms.PLATFORMS))),
        validate=validate.Length(min=1, error="must name at least one platform"),
    )
    format = fields.String(validate=validate.OneOf(cookies.FORMATS))


set_credentials = SetCredentialsSchema()
reveal = RevealEndUserCredentialsSchema()
