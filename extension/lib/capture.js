// Reading a platform's cookies with chrome.cookies and turning them into the cookie objects
// store-platform-session takes (../shared/spec/credentials-api.txt):
//   {name, value, domain, path, expires, httpOnly, secure, sameSite}
// `domain` keeps Chrome's leading dot for domain cookies; a host-only cookie has none, which is
// how the service tells the two apart. `expires` is unix seconds, left out for a session cookie.

const SAME_SITE = { no_restriction: "None", lax: "Lax", strict: "Strict" }; // "unspecified": none

/** One chrome.cookies.Cookie as the API's cookie object. */
export function toApiCookie(cookie) {
  const out = {
    name: cookie.name,
    value: cookie.value,
    domain: cookie.domain,
    path: cookie.path || "/",
    httpOnly: Boolean(cookie.httpOnly),
    secure: Boolean(cookie.secure),
  };
  if (!cookie.session && typeof cookie.expirationDate === "number") {
    out.expires = Math.floor(cookie.expirationDate);
  }
  if (SAME_SITE[cookie.sameSite]) out.sameSite = SAME_SITE[cookie.sameSite];
  return out;
}

/** Every cookie of the platform's cookie domains (and their subdomains), each once. */
export async function readCookies(platform) {
  const seen = new Map();
  for (const domain of platform.cookie_domains) {
    for (const cookie of await chrome.cookies.getAll({ domain: domain.replace(/^\./, "") })) {
      seen.set(`${cookie.storeId}|${cookie.domain}|${cookie.path}|${cookie.name}`, cookie);
    }
  }
  return [...seen.values()];
}

/**
 * The session's expiry: the earliest expiry among the platform's login cookies
 * (`session_cookies`), or among all cookies when none of those has one. Short-lived helper
 * cookies (a week-long window-size cookie, say) would otherwise make a year-long login look
 * expired after a week. Null when every cookie is a browser-session cookie.
 */
export function sessionExpiry(apiCookies, sessionCookieNames) {
  const earliest = (list) => {
    const times = list.map((c) => c.expires).filter((t) => typeof t === "number");
    return times.length ? Math.min(...times) : null;
  };
  const login = apiCookies.filter((c) => sessionCookieNames.includes(c.name));
  const seconds = earliest(login) ?? earliest(apiCookies);
  return seconds === null ? null : new Date(seconds * 1000).toISOString();
}

/** The payload for store-platform-session (profile id still to fill in), or an Error naming (never showing) what is missing. */
export function buildPayload(platform, chromeCookies, userAgent) {
  if (chromeCookies.length === 0) {
    throw new Error(`No ${platform.name} cookies in this browser: sign in at ${platform.login_url} first.`);
  }
  const names = new Set(chromeCookies.map((c) => c.name));
  const missing = platform.session_cookies.filter((name) => !names.has(name));
  if (missing.length) {
    throw new Error(
      `Not signed in to ${platform.name}: missing ${missing.join(", ")}. Sign in at ${platform.login_url} first.`,
    );
  }
  const cookies = chromeCookies.map(toApiCookie);
  return {
    creator_profile_id: null, // set by the caller once the profile is known
    platform: platform.platform,
    cookies,
    user_agent: userAgent,
    expires_at: sessionExpiry(cookies, platform.session_cookies),
  };
}
