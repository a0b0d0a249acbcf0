// What the popup and the badge show about the stored sessions (GET /platform-sessions).

export const STATUS_LABELS = {
  active: "Active",
  expiring_soon: "Expiring soon",
  expired: "Expired",
  revoked: "Revoked",
  needs_recapture: "Needs re-capture",
  superseded: "Superseded",
};
// Statuses that ask the user to capture again.
export const ATTENTION = new Set(["needs_recapture", "expired", "revoked"]);
// Statuses get-platform-session never serves.
const UNUSABLE = new Set(["superseded", "revoked", "needs_recapture"]);

/**
 * The session that stands for `platform`: the one workers get (the newest that is neither
 * superseded, revoked nor reported dead), else the newest not superseded, which says why
 * there is none. Null when nothing was captured.
 */
export function currentSession(sessions, platform) {
  const mine = sessions
    .filter((s) => s.platform === platform && s.status !== "superseded")
    .sort((a, b) => String(b.captured_at).localeCompare(String(a.captured_at)));
  return mine.find((s) => !UNUSABLE.has(s.status)) ?? mine[0] ?? null;
}

/** The current sessions that need a new capture, one per platform. */
export function needingRecapture(sessions) {
  const platforms = [...new Set(sessions.map((s) => s.platform))];
  return platforms
    .map((platform) => currentSession(sessions, platform))
    .filter((s) => s && ATTENTION.has(s.status));
}

/** Badge: the number of platforms to re-capture, in red; empty when there is none. */
export async function showBadge(sessions) {
  const count = needingRecapture(sessions).length;
  await chrome.action.setBadgeBackgroundColor({ color: "#b3261e" });
  await chrome.action.setBadgeText({ text: count ? String(count) : "" });
  await chrome.action.setTitle({
    title: count ? `credsvc: ${count} session(s) to re-capture` : "credsvc",
  });
  return count;
}

export async function clearBadge() {
  await chrome.action.setBadgeText({ text: "" });
  await chrome.action.setTitle({ title: "credsvc" });
}

export function formatTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "—" : date.toLocaleString();
}
