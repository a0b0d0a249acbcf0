"""The one cookie table of the end-user API: which browser cookie each credential field is.

Everything that needs a platform's cookie layout reads it from here: the PUT schema (the
twelve accepted fields), the status endpoint (fields grouped by platform), the workers'
endpoint (ready-to-inject cookies) and `docs/platforms.md`, which is generated from this
table (`python -m credsvc.platforms > docs/platforms.md`; a unit test keeps them equal).

Why each row looks the way it does (as the sites set these cookies when a user logs in):

- X moved from twitter.com to x.com in 2024; the login cookies now live on `.x.com`.
  `auth_token` is the session (Secure, HttpOnly). `ct0` is the CSRF token: the web app's
  JavaScript reads it and echoes it in the `x-csrf-token` header, so it is *not* HttpOnly.
- Reddit's login cookie is `reddit_session` on `.reddit.com` (Secure, HttpOnly).
- TikTok's `sessionid` on `.tiktok.com` is the session (Secure, HttpOnly); `tt_csrf_token`
  is set Secure and HttpOnly too (the page fetches its CSRF header value separately).
- YouTube shares Google's account cookies, copied onto `.youtube.com` at sign-in. Their
  names encode their flags: `SID` is neither Secure nor HttpOnly, `HSID` is HttpOnly only
  ("H"), `SSID` is Secure and HttpOnly ("S"), `SAPISID` is Secure but readable by scripts
  (YouTube's JavaScript hashes it into the `SAPISIDHASH` Authorization header).
- Instagram's `sessionid` is the session (Secure, HttpOnly); `csrftoken` and `ds_user_id`
  are Secure but read by the page's JavaScript, so not HttpOnly.

A leading dot on the domain means "this domain and every subdomain" (www.x.com,
m.youtube.com ...), which is how the sites set them. The cookies are handed out as session
cookies (no expiry): the real expiry is not known here, and the site refreshes it anyway.
If a flag were wrong the cookie would still be sent; only script visibility would differ.
"""

from __future__ import annotations

from dataclasses import dataclass

from credsvc.cookies import Cookie


@dataclass(frozen=True)
class CookieSpec:
    """One API credential field and the browser cookie it becomes."""

    field: str  # the API field, e.g. "twitterAuthToken"
    platform: str  # e.g. "twitter"
    name: str  # the cookie name in the browser
    domain: str
    path: str = "/"
    secure: bool = True
    http_only: bool = True
    about: str = ""  # what the cookie is, for the docs

    def cookie(self, value: str) -> Cookie:
        """The ready-to-inject session cookie; raises CookieFormatError for a bad value."""
        return Cookie(
            name=self.name,
            value=value,
            domain=self.domain,
            path=self.path,
            secure=self.secure,
            http_only=self.http_only,
        )


@dataclass(frozen=True)
class Platform:
    name: str  # the key used in API responses, e.g. "twitter"
    title: str  # for people, e.g. "X (Twitter)"
    site: str  # where to log in and open DevTools
    cookies: tuple[CookieSpec, ...]
    note: str = ""
    login_url: str = ""  # where the extension sends a creator to sign in
    # The cookies a capture must contain to be a signed-in session (GET /platforms): the
    # extension refuses to post a capture without them.
    session_cookies: tuple[str, ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(spec.field for spec in self.cookies)

    @property
    def cookie_domains(self) -> tuple[str, ...]:
        """The registrable domains the cookies live on ("x.com"), from the cookie rows: what
        the extension asks `chrome.cookies.getAll({domain})` for."""
        return tuple(dict.fromkeys(spec.domain.lstrip(".") for spec in self.cookies))

    def public(self) -> dict:
        """This platform as `GET /api/credentials/platforms` lists it (no values exist here)."""
        return {
            "platform": self.name,
            "name": self.title,
            "cookie_domains": list(self.cookie_domains),
            "login_url": self.login_url,
            "session_cookies": list(self.session_cookies),
        }


def _platform(
    name: str,
    title: str,
    site: str,
    domain: str,
    rows: list[tuple],
    note: str = "",
    *,
    login_url: str,
    session_cookies: tuple[str, ...],
) -> Platform:
    """rows: (API field, cookie name, secure, httpOnly, what it is); path is always "/"."""
    specs = tuple(
        CookieSpec(field, name, cookie, domain, secure=secure, http_only=http_only, about=about)
        for field, cookie, secure, http_only, about in rows
    )
    return Platform(name, title, site, specs, note, login_url, session_cookies)


PLATFORMS: dict[str, Platform] = {
    platform.name: platform
    for platform in (
        _platform(
            "twitter",
            "X (Twitter)",
            "https://x.com",
            ".x.com",
            [
                ("twitterAuthToken", "auth_token", True, True, "the login session"),
                ("twitterCt0", "ct0", True, False, "the CSRF token, echoed as x-csrf-token"),
            ],
            note="twitter.com now redirects to x.com; take both cookies from x.com.",
            login_url="https://x.com/i/flow/login",
            session_cookies=("auth_token", "ct0"),
        ),
        _platform(
            "reddit",
            "Reddit",
            "https://www.reddit.com",
            ".reddit.com",
            [("redditSession", "reddit_session", True, True, "the login session")],
            login_url="https://www.reddit.com/login/",
            session_cookies=("reddit_session",),
        ),
        _platform(
            "tiktok",
            "TikTok",
            "https://www.tiktok.com",
            ".tiktok.com",
            [
                ("tiktokSessionId", "sessionid", True, True, "the login session"),
                ("tiktokCsrfToken", "tt_csrf_token", True, True, "the CSRF token"),
            ],
            note="Several cookies start with `sessionid` (e.g. `sessionid_ss`): "
            "copy the one named exactly `sessionid`.",
            login_url="https://www.tiktok.com/login",
            session_cookies=("sessionid",),
        ),
        _platform(
            "youtube",
            "YouTube",
            "https://www.youtube.com",
            ".youtube.com",
            [
                ("youtubeSid", "SID", False, False, "the Google account session"),
                ("youtubeHsid", "HSID", False, True, "HTTP-only companion of SID"),
                ("youtubeSsid", "SSID", True, True, "HTTPS-only companion of SID"),
                ("youtubeSapisid", "SAPISID", True, False, "signs YouTube's API calls"),
            ],
            note="Take the values listed under youtube.com, not google.com: Google sets "
            "cookies with the same names on both, with different values. Names are "
            "case-sensitive and similar ones exist (`APISID`, `__Secure-3PSID`): copy the "
            "exact four names.",
            login_url="https://accounts.google.com/ServiceLogin?service=youtube",
            session_cookies=("SID", "HSID", "SSID", "SAPISID"),
        ),
        _platform(
            "instagram",
            "Instagram",
            "https://www.instagram.com",
            ".instagram.com",
            [
                ("instagramSessionId", "sessionid", True, True, "the login session"),
                ("instagramCsrfToken", "csrftoken", True, False, "the CSRF token"),
                ("instagramDsUserId", "ds_user_id", True, False, "the account's numeric id"),
            ],
            login_url="https://www.instagram.com/accounts/login/",
            session_cookies=("sessionid",),
        ),
    )
}

FIELDS: dict[str, CookieSpec] = {
    spec.field: spec for platform in PLATFORMS.values() for spec in platform.cookies
}


def markdown() -> str:
    """The text of docs/platforms.md."""
    lines = [
        "# Platforms: which cookie each credential field is",
        "",
        "<!-- Generated from credsvc/platforms.py by "
        "`python -m credsvc.platforms > docs/platforms.md`; do not edit by hand. -->",
        "",
        "`PUT /v1/end-users/{endUserId}/credentials` takes one field per browser cookie. "
        "Workers get each cookie back with the domain, path and flags below, ready to load "
        "into a browser.",
        "",
        "## Finding a cookie in your browser",
        "",
        "1. Log in to the site in a normal browser window.",
        "2. Open the developer tools: F12, or Ctrl+Shift+I (Cmd+Option+I on a Mac).",
        "3. Chrome / Edge: **Application** tab → **Storage** → **Cookies** → the site's "
        "address. Firefox: **Storage** tab → **Cookies**. Safari: **Storage** tab "
        "(enable *Show features for web developers* first).",
        "4. Type the cookie name into the filter box and copy the **Value** column, "
        "nothing else (no name, no `=`, no quotes, no trailing space).",
        "",
        "Cookies marked HttpOnly are invisible to `document.cookie` in the console; "
        "the cookie panel shows them all. Logging out ends the session the cookies belong "
        "to: close the tab instead.",
    ]
    for platform in PLATFORMS.values():
        lines += [
            "",
            f"## {platform.title}",
            "",
            f"Open {platform.site} while logged in; the cookies are listed under "
            f"`{platform.site}`.",
            "",
        ]
        if platform.note:
            lines += [platform.note, ""]
        lines += [
            "| API field | Cookie | Domain | Path | Secure | HttpOnly | What it is |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| `{spec.field}` | `{spec.name}` | `{spec.domain}` | `{spec.path}` "
            f"| {_yes(spec.secure)} | {_yes(spec.http_only)} | {spec.about} |"
            for spec in platform.cookies
        ]
    return "\n".join(lines) + "\n"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


if __name__ == "__main__":
    print(markdown(), end="")
