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

// A platform host permission of the manifest: "*://*.youtube.com/*" grants youtube.com and
// every subdomain. The loopback service permissions ("http://127.0.0.1/*") are not of this form.
const PLATFORM_PATTERN = /^\*:\/\/\*\.([a-z0-9.-]+)\/\*$/;

/** The registrable domains the manifest grants for cookies ("youtube.com", ...). */
export function grantedCookieDomains(hostPermissions) {
  return (hostPermissions || []).map((p) => PLATFORM_PATTERN.exec(p)?.[1]).filter(Boolean);
}

/**
 * The platform's cookie_domains (as the service sent them) that the manifest grants: a domain
 * equal to, or a subdomain of, a granted one. The service decides nothing beyond the manifest:
 * a compromised or misconfigured credsvc cannot make the extension read a bank's cookies.
 */
export function allowedCookieDomains(cookieDomains, hostPermissions) {
  const granted = grantedCookieDomains(hostPermissions);
  const allowed = [];
  for (const raw of cookieDomains || []) {
    const domain = String(raw).toLowerCase().replace(/^\./, "");
    const ok = granted.some((g) => domain === g || domain.endsWith(`.${g}`));
    if (ok && !allowed.includes(domain)) allowed.push(domain);
  }
  return allowed;
}

/** Every cookie of the platform's cookie domains (and their subdomains) that the manifest
 * grants, each once. */
export async function readCookies(platform) {
  const seen = new Map();
  const domains = allowedCookieDomains(
    platform.cookie_domains,
    chrome.runtime.getManifest().host_permissions,
  );
  for (const domain of domains) {
    for (const cookie of await chrome.cookies.getAll({ domain })) {
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
