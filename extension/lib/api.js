// The credsvc routes the extension calls, all with the user's Directus access token.
// A 401 is retried once with a refreshed token; any other failure raises ApiError with the
// service's `error` text (credsvc never puts a credential value in it).

import { requireSettings } from "./config.js";
import { accessToken, renewAfter401 } from "./auth.js";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

async function send(method, path, body, token) {
  const { credsvcUrl } = await requireSettings();
  return fetch(`${credsvcUrl}/api/credentials/${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
  });
}

async function call(method, path, body) {
  let token = await accessToken();
  let response = await send(method, path, body, token);
  if (response.status === 401) {
    token = await renewAfter401(token);
    response = await send(method, path, body, token);
  }
  let answer = null;
  try {
    answer = await response.json();
  } catch {
    // not JSON (a proxy's error page): reported by status below
  }
  if (!response.ok || !answer || answer.success !== true) {
    throw new ApiError(response.status, answer?.error || `credsvc answered HTTP ${response.status}`);
  }
  return answer;
}

/** [{platform, name, cookie_domains, login_url, session_cookies}] from the service's table. */
export async function listPlatforms() {
  return (await call("GET", "platforms")).platforms;
}

/** {profiles: [{id, platform, platform_username}], sessions: [...]}: the caller's own. */
export async function listSessions() {
  const { profiles, sessions } = await call("GET", "platform-sessions");
  return { profiles, sessions };
}

/** The id of a new creator profile for `platform` (see docs/extension.md, "Capture"). */
export async function createProfile(platform) {
  const answer = await call("POST", "create-profile", {
    platform,
    // create-profile needs a non-empty credentials object; a profile made by the extension
    // holds no secret of its own, only this marker: its sessions carry the cookies.
    credentials: { source: "browser-extension" },
  });
  return answer.id;
}

export async function storeSession(payload) {
  return call("POST", "store-platform-session", payload);
}
