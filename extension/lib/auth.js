// Sign-in with a Directus account: POST /auth/login, /auth/refresh and /auth/logout in JSON
// mode (the tokens come back in the body, no cookie).
//
// Where the tokens live:
// - the access token (a JWT, ~15 min) in chrome.storage.session: memory only, gone when the
//   browser quits, never written to disk;
// - the refresh token in chrome.storage.local: on this machine's profile only (never
//   storage.sync, which would copy it to every browser of the Google account), so that the
//   background check keeps working after a browser restart. Signing out deletes both and
//   ends the Directus session.
// Refreshing rotates the refresh token; a Web Lock shared by the popup, the options page and
// the service worker makes sure only one of them spends it at a time.

import { requireSettings } from "./config.js";

const ACCESS_KEY = "access"; // storage.session: {token, expiresAt (ms)}
const ACCOUNT_KEY = "account"; // storage.local: {email, refreshToken}
const EARLY_MS = 60_000; // refresh a minute before the access token expires
const LOCK = "credsvc-auth";

export class SignedOut extends Error {
  constructor(message = "Sign in on the options page.") {
    super(message);
    this.name = "SignedOut";
  }
}

/** The message of a Directus error body, or the HTTP status. Never echoes what was sent. */
async function directusError(response) {
  let message = `HTTP ${response.status}`;
  try {
    const body = await response.json();
    message = body.errors?.[0]?.message || message;
  } catch {
    // not JSON: keep the status
  }
  return message;
}

async function authCall(path, body) {
  const { directusUrl } = await requireSettings();
  return fetch(`${directusUrl}/auth/${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ ...body, mode: "json" }),
    credentials: "omit",
    cache: "no-store",
  });
}

async function keep(email, data) {
  await chrome.storage.session.set({
    [ACCESS_KEY]: { token: data.access_token, expiresAt: Date.now() + Number(data.expires) },
  });
  await chrome.storage.local.set({ [ACCOUNT_KEY]: { email, refreshToken: data.refresh_token } });
}

async function forget() {
  await chrome.storage.session.remove(ACCESS_KEY);
  await chrome.storage.local.remove(ACCOUNT_KEY);
}

/** The signed-in account's e-mail, or null. */
export async function signedInEmail() {
  const { [ACCOUNT_KEY]: account } = await chrome.storage.local.get(ACCOUNT_KEY);
  return account?.email ?? null;
}

export async function signIn(email, password) {
  const response = await authCall("login", { email, password });
  if (!response.ok) {
    throw new Error(`Sign-in failed: ${await directusError(response)}`);
  }
  const { data } = await response.json();
  await keep(email, data);
  return email;
}

export async function signOut() {
  const { [ACCOUNT_KEY]: account } = await chrome.storage.local.get(ACCOUNT_KEY);
  await forget();
  if (account?.refreshToken) {
    // Ends the session in Directus too; signed out locally whatever it answers.
    await authCall("logout", { refresh_token: account.refreshToken }).catch(() => undefined);
  }
}

/** Spend the refresh token for a new pair, unless another context did it since `stale`. */
async function refresh(stale) {
  return navigator.locks.request(LOCK, async () => {
    const { [ACCESS_KEY]: current } = await chrome.storage.session.get(ACCESS_KEY);
    if (current && current.token !== stale && current.expiresAt - EARLY_MS > Date.now()) {
      return current.token; // refreshed by someone else while we waited
    }
    const { [ACCOUNT_KEY]: account } = await chrome.storage.local.get(ACCOUNT_KEY);
    if (!account?.refreshToken) throw new SignedOut();
    const response = await authCall("refresh", { refresh_token: account.refreshToken });
    if (response.status === 400 || response.status === 401 || response.status === 403) {
      await forget(); // the session ended (expired, signed out elsewhere, user removed)
      throw new SignedOut("Your session ended: sign in again on the options page.");
    }
    if (!response.ok) throw new Error(`Directus refresh failed: ${await directusError(response)}`);
    const { data } = await response.json();
    await keep(account.email, data);
    return data.access_token;
  });
}

/** A valid access token: the stored one, or a refreshed one when it expires within a minute. */
export async function accessToken() {
  const { [ACCESS_KEY]: current } = await chrome.storage.session.get(ACCESS_KEY);
  if (current && current.expiresAt - EARLY_MS > Date.now()) return current.token;
  return refresh(current?.token);
}

/** After a 401 with `token`: a new token (or SignedOut). */
export async function renewAfter401(token) {
  await chrome.storage.session.remove(ACCESS_KEY);
  return refresh(token);
}
