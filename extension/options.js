// Options page: the two service URLs (and their host permissions), and the Directus sign-in.

import { getSettings, saveSettings } from "./lib/config.js";
import { signIn, signOut, signedInEmail } from "./lib/auth.js";

const $ = (id) => document.getElementById(id);

function say(id, text, isError = false) {
  $(id).textContent = text;
  $(id).classList.toggle("error", isError);
}

async function showAccount() {
  const email = await signedInEmail();
  $("sign-in").hidden = Boolean(email);
  $("signed-in").hidden = !email;
  $("account-email").textContent = email || "";
}

function askForCheck() {
  chrome.runtime.sendMessage({ type: "poll" }).catch(() => undefined);
}

$("settings").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const saved = await saveSettings($("credsvc-url").value, $("directus-url").value);
    $("credsvc-url").value = saved.credsvcUrl;
    $("directus-url").value = saved.directusUrl;
    say("settings-status", "Saved.");
  } catch (error) {
    say("settings-status", error.message, true);
  }
});

$("sign-in").addEventListener("submit", async (event) => {
  event.preventDefault();
  say("account-status", "Signing in…");
  try {
    if (!(await getSettings())) throw new Error("Save the service URLs first.");
    await signIn($("email").value.trim(), $("password").value);
    $("password").value = "";
    say("account-status", "Signed in.");
    askForCheck();
  } catch (error) {
    say("account-status", error.message, true);
  }
  await showAccount();
});

$("sign-out").addEventListener("click", async () => {
  await signOut();
  say("account-status", "Signed out.");
  askForCheck();
  await showAccount();
});

(async () => {
  const settings = await getSettings();
  if (settings) {
    $("credsvc-url").value = settings.credsvcUrl;
    $("directus-url").value = settings.directusUrl;
  }
  await showAccount();
})();
