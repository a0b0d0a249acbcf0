"""The cookie table: the spec's twelve fields, each platform's real cookie, and the docs."""

from __future__ import annotations

from pathlib import Path

import pytest

from credsvc import cookies, platforms
from credsvc.schemas import end_users as schemas

DOC = Path(__file__).resolve().parents[2] / "docs" / "platforms.md"

SPEC_FIELDS = [
    "twitterAuthToken",
    "twitterCt0",
    "redditSession",
    "tiktokSessionId",
    "tiktokCsrfToken",
    "youtubeSid",
    "youtubeHsid",
    "youtubeSsid",
    "youtubeSapisid",
    "instagramSessionId",
    "instagramCsrfToken",
    "instagramDsUserId",
]

# field: (platform, cookie, domain, secure, httpOnly), as the sites set them at login.
EXPECTED = {
    "twitterAuthToken": ("twitter", "auth_token", ".x.com", True, True),
    "twitterCt0": ("twitter", "ct0", ".x.com", True, False),
    "redditSession": ("reddit", "reddit_session", ".reddit.com", True, True),
    "tiktokSessionId": ("tiktok", "sessionid", ".tiktok.com", True, True),
    "tiktokCsrfToken": ("tiktok", "tt_csrf_token", ".tiktok.com", True, True),
    "youtubeSid": ("youtube", "SID", ".youtube.com", False, False),
    "youtubeHsid": ("youtube", "HSID", ".youtube.com", False, True),
    "youtubeSsid": ("youtube", "SSID", ".youtube.com", True, True),
    "youtubeSapisid": ("youtube", "SAPISID", ".youtube.com", True, False),
    "instagramSessionId": ("instagram", "sessionid", ".instagram.com", True, True),
    "instagramCsrfToken": ("instagram", "csrftoken", ".instagram.com", True, False),
    "instagramDsUserId": ("instagram", "ds_user_id", ".instagram.com", True, False),
}


def test_the_table_has_exactly_the_spec_fields_in_order():
    assert list(platforms.FIELDS) == SPEC_FIELDS


def test_the_put_schema_accepts_exactly_the_table_fields():
    assert list(schemas.set_credentials.fields) == SPEC_FIELDS


@pytest.mark.parametrize("field", SPEC_FIELDS)
def test_each_field_is_its_real_cookie(field):
    spec = platforms.FIELDS[field]
    assert (spec.platform, spec.name, spec.domain, spec.secure, spec.http_only) == EXPECTED[field]
    assert spec.path == "/"
    assert spec.field.startswith(spec.platform)
    assert spec.about


@pytest.mark.parametrize("spec", platforms.FIELDS.values(), ids=lambda spec: spec.field)
def test_each_cookie_is_a_valid_session_cookie(spec):
    cookie = spec.cookie("value-123")
    assert cookie.session and not cookie.host_only
    conversion = cookies.render([cookie], "playwright")
    assert conversion.ok, conversion.problems


def test_platforms_group_their_fields():
    assert {name: platform.fields for name, platform in platforms.PLATFORMS.items()} == {
        "twitter": ("twitterAuthToken", "twitterCt0"),
        "reddit": ("redditSession",),
        "tiktok": ("tiktokSessionId", "tiktokCsrfToken"),
        "youtube": ("youtubeSid", "youtubeHsid", "youtubeSsid", "youtubeSapisid"),
        "instagram": ("instagramSessionId", "instagramCsrfToken", "instagramDsUserId"),
    }
    for platform in platforms.PLATFORMS.values():
        assert platform.site.startswith("https://")
        assert all(platform.site.endswith(spec.domain.lstrip(".")) for spec in platform.cookies)


def test_bad_values_are_refused_by_the_cookie_model():
    with pytest.raises(cookies.CookieFormatError):
        platforms.FIELDS["twitterCt0"].cookie("a;b")


def test_docs_platforms_md_is_generated_from_the_table():
    assert DOC.read_text(encoding="utf-8") == platforms.markdown(), (
        "docs/platforms.md is stale: run `python -m credsvc.platforms > docs/platforms.md`"
    )


def test_the_doc_names_every_field_cookie_and_domain():
    text = platforms.markdown()
    for spec in platforms.FIELDS.values():
        assert f"| `{spec.field}` | `{spec.name}` | `{spec.domain}` | `/` |" in text
