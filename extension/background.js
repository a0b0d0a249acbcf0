// Service worker: every POLL_MINUTES, asks credsvc for the user's sessions; when one needs a
// new capture (a worker reported it dead, or it expired) it sets the badge and notifies once
// per session.

import { getSettings, hasAccess } from "./lib/config.js";
import { signedInEmail } from "./lib/auth.js";
import { listSessions } from "./lib/api.js";
import { clearBadge, needingRecapture, showBadge, STATUS_LABELS } from "./lib/health.js";

const ALARM = "credsvc-poll";
const POLL_MINUTES = 15;
const NOTIFIED_KEY = "notified"; // storage.local: ids of sessions already notified about

async function notify(sessions) {
  const { [NOTIFIED_KEY]: notified = [] } = await chrome.storage.local.get(NOTIFIED_KEY);
  const fresh = sessions.filter((s) => !notified.includes(s.id));
  for (const session of fresh) {
    await chrome.notifications.create(`credsvc-${session.id}`, {
      type: "basic",
      iconUrl: "icons/icon-128.png",
      title: `${session.platform}: ${STATUS_LABELS[session.status] || session.status}`,
      message: "Sign in to the site in this browser, then open credsvc and click Re-capture.",
      priority: 2,
    });
  }
  // Keep only ids still in trouble, so the list cannot grow without end.
  await chrome.storage.local.set({ [NOTIFIED_KEY]: sessions.map((s) => s.id) });
  return fresh.length;
}

/** One check. Returns what it did (also handy from the service worker's console). */
async function poll() {
  const settings = await getSettings();
  if (!settings || !(await signedInEmail()) || !(await hasAccess(settings))) {
    await clearBadge();
    return { checked: false };
  }
  try {
    const { sessions } = await listSessions();
    const trouble = needingRecapture(sessions);
    await showBadge(sessions);
    return { checked: true, needing: trouble.map((s) => s.id), notified: await notify(trouble) };
  } catch (error) {
    // Signed out or unreachable: say so on the badge rather than show stale health.
    await chrome.action.setBadgeText({ text: "?" });
    await chrome.action.setTitle({ title: `credsvc: ${error.message}` });
    return { checked: false, error: error.message };
  }
}

chrome.alarms.onAlarm.addListener((alarm) => {
  if (alarm.name === ALARM) poll();
});

async function schedule() {
  if (!(await chrome.alarms.get(ALARM))) {
    await chrome.alarms.create(ALARM, { periodInMinutes: POLL_MINUTES, delayInMinutes: 1 });
  }
}

chrome.runtime.onInstalled.addListener(() => {
  schedule();
  poll();
});
chrome.runtime.onStartup.addListener(() => {
  schedule();
  poll();
});

// The popup and the options page ask for a check after a sign-in, a capture or a sign-out.
chrome.runtime.onMessage.addListener((message, _sender, reply) => {
  if (message?.type === "poll") {
    poll().then(reply);
    return true; // reply asynchronously
  }
  return false;
});

chrome.notifications.onClicked.addListener((id) => {
  if (id.startsWith("credsvc-")) chrome.notifications.clear(id);
});

globalThis.credsvcPoll = poll;
