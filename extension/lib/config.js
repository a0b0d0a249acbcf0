// Where credsvc and Directus live, and the host permissions for them.
//
// The two URLs are kept in chrome.storage.local (this browser only; never storage.sync). Access
// to their origins is not in the manifest's host_permissions: each deployment has its own
// URLs, so the options page asks for exactly those two origins at run time
// (optional_host_permissions), and the extension can reach nothing else.
//
// https only, except on loopback (local development, `make run`): over plain http the Directus
// password, the access and refresh tokens and every captured cookie would cross the network in
// the clear. The manifest offers only https://*/* at run time; loopback http is granted at
// install (manifest host_permissions).

const SETTINGS_KEY = "settings";

export class NotConfigured extends Error {
  constructor() {
    super("Set the credsvc and Directus URLs on the options page first.");
    this.name = "NotConfigured";
  }
}

// The hosts plain http is allowed to (URL.hostname keeps the brackets of an IPv6 literal).
export const LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "[::1]"];

/**
 * "https://creds.example.com/" -> "https://creds.example.com"; throws on anything but https,
 * or http to a loopback host (LOOPBACK_HOSTS).
 */
export function normalizeUrl(raw) {
  const url = new URL(String(raw).trim());
  if (url.protocol === "http:" && !LOOPBACK_HOSTS.includes(url.hostname)) {
    throw new Error(`${raw}: use https (plain http only to ${LOOPBACK_HOSTS.join(", ")})`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new Error(`${raw} is not an http(s) URL`);
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new Error(`${raw}: give the base URL only (no credentials, query or fragment)`);
  }
  return url.origin + url.pathname.replace(/\/+$/, "");
}

/** The match pattern that grants access to `url`'s origin (scheme, host and port). */
export function originPattern(url) {
  return `${new URL(url).origin}/*`;
}

/** {credsvcUrl, directusUrl}, or null when not configured yet. */
export async function getSettings() {
  const { [SETTINGS_KEY]: settings } = await chrome.storage.local.get(SETTINGS_KEY);
  return settings && settings.credsvcUrl && settings.directusUrl ? settings : null;
}

export async function requireSettings() {
  const settings = await getSettings();
  if (!settings) throw new NotConfigured();
  return settings;
}

/** Ask for the two origins (must run in a user gesture), then save. Returns the settings. */
export async function saveSettings(credsvcUrl, directusUrl) {
  const settings = {
    credsvcUrl: normalizeUrl(credsvcUrl),
    directusUrl: normalizeUrl(directusUrl),
  };
  const origins = [...new Set([originPattern(settings.credsvcUrl), originPattern(settings.directusUrl)])];
  const granted = await chrome.permissions.request({ origins });
  if (!granted) {
    throw new Error("Access to these two addresses was refused; the extension cannot reach them.");
  }
  await chrome.storage.local.set({ [SETTINGS_KEY]: settings });
  return settings;
}

/** True when the browser still grants both origins (the user can withdraw them any time). */
export async function hasAccess(settings) {
  const origins = [originPattern(settings.credsvcUrl), originPattern(settings.directusUrl)];
  return chrome.permissions.contains({ origins });
}
