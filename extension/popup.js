// Popup: the platforms of the service's table, each with the health of its stored session,
// and a Capture button that stores this browser's cookies for it.

import { getSettings, hasAccess } from "./lib/config.js";
import { signedInEmail } from "./lib/auth.js";
import { createProfile, listPlatforms, listSessions, storeSession } from "./lib/api.js";
import { buildPayload, readCookies } from "./lib/capture.js";
import { ATTENTION, STATUS_LABELS, currentSession, formatTime, showBadge } from "./lib/health.js";

const $ = (id) => document.getElementById(id);

function say(text, kind = "") {
  $("message").textContent = text;
  $("message").className = kind;
}

function details(session) {
  if (!session) return "Nothing captured yet.";
  const parts = [
    `Captured ${formatTime(session.captured_at)}`,
    `expires ${formatTime(session.expires_at)}`,
    `${session.cookie_count} cookies`,
  ];
  if (session.reason) parts.push(`reason: ${session.reason}`);
  return parts.join(" · ");
}

function render(platforms, sessions, onCapture) {
  const list = $("platforms");
  list.replaceChildren();
  for (const platform of platforms) {
    const row = $("platform-row").content.firstElementChild.cloneNode(true);
    const session = currentSession(sessions, platform.platform);
    const status = session?.status ?? "none";
    row.dataset.platform = platform.platform;
    row.dataset.status = status;
    row.querySelector(".name").textContent = platform.name;
    const pill = row.querySelector(".status");
    pill.textContent = session ? STATUS_LABELS[status] || status : "Not captured";
    pill.className = `status status-${status}`;
    row.querySelector(".details").textContent = details(session);
    const button = row.querySelector(".capture");
    button.textContent = session ? "Re-capture" : "Capture";
    button.classList.toggle("urgent", ATTENTION.has(status));
    button.addEventListener("click", () => onCapture(platform, button));
    list.append(row);
  }
}

async function load() {
  const settings = await getSettings();
  const email = await signedInEmail();
  if (!settings || !(await hasAccess(settings))) {
    say("Set the service URLs on the settings page.", "error");
    return;
  }
  if (!email) {
    say("Sign in on the settings page.", "error");
    return;
  }
  $("account").textContent = email;
  const [platforms, { profiles, sessions }] = await Promise.all([listPlatforms(), listSessions()]);
  await showBadge(sessions);
  render(platforms, sessions, (platform, button) => capture(platform, profiles, button));
  document.body.dataset.state = "loaded";
}

async function capture(platform, profiles, button) {
  button.disabled = true;
  say(`Capturing ${platform.name}…`);
  try {
    // Checked before a profile is created: no profile for a platform the user is not signed in to.
    const payload = buildPayload(platform, await readCookies(platform), navigator.userAgent);
    const profile = profiles.find((p) => p.platform === platform.platform);
    payload.creator_profile_id = profile ? profile.id : await createProfile(platform.platform);
    const stored = await storeSession(payload);
    await load();
    say(`Captured ${stored.cookie_count} ${platform.name} cookies.`, "ok");
    chrome.runtime.sendMessage({ type: "poll" }).catch(() => undefined);
  } catch (error) {
    say(error.message, "error");
    button.disabled = false;
  }
}

$("open-options").addEventListener("click", () => chrome.runtime.openOptionsPage());

load().catch((error) => {
  say(error.message, "error");
  document.body.dataset.state = "error";
});
