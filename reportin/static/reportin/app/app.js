// ReportIn web app: start-up, screens, and what they share (the token, the last answers from
// the server, the outbox). Each screen is a module with render(app, main).

import { ApiError, NetworkError, call } from "./api.js";
import { h, notice } from "./dom.js";
import { currentLanguage, deviceLanguage, languageName, loadStrings, otherLanguage, setLanguage, supported, t } from "./i18n.js";
import * as outbox from "./outbox.js";
import * as activateScreen from "./screen-activate.js";
import * as appointmentsScreen from "./screen-appointments.js";
import * as checkinScreen from "./screen-checkin.js";
import * as consentScreen from "./screen-consent.js";
import * as homeScreen from "./screen-home.js";
import * as messagesScreen from "./screen-messages.js";
import * as officeScreen from "./screen-office.js";
import * as settingsScreen from "./screen-settings.js";
import { store } from "./store.js";

const SCREENS = {
  activate: activateScreen,
  consent: consentScreen,
  home: homeScreen,
  "check-in": checkinScreen,
  settings: settingsScreen,
  office: officeScreen,
  // Notices offer to answer through it ("explain", "contest").
  messages: messagesScreen,
  // Notices of an appointment set, moved or cancelled open it ("see_appointments").
  appointments: appointmentsScreen,
};
const CHECKIN_FIELDS = ["latitude", "longitude", "accuracy_m", "captured_at", "address", "employment", "family_status"];
const FIRST_RETRY_MS = 5000;
const LAST_RETRY_MS = 5 * 60 * 1000;

const main = document.getElementById("main");
const announcer = document.getElementById("announce");
const networkBanner = document.getElementById("network");
const languageButton = document.getElementById("language");
const nav = document.getElementById("nav");

const app = {
  token: store.token,
  me: null, // the last answer of GET /api/v1/me
  checkins: [], // the last answer of GET /api/v1/check-ins
  outbox: [], // check-ins waiting on this phone (outbox.js)
  snapshotAt: null, // set when what is shown is the copy kept from an earlier visit
  draft: null, // the check-in being prepared (screen-checkin.js)
  screen: null,
  leaving: [],
  updating: null,
  pendingFlash: null,

  async api(method, path, options = {}) {
    try {
      return await call(method, path, { ...options, token: app.token, language: currentLanguage() });
    } catch (error) {
      if (error instanceof ApiError && error.status === 401 && app.token) {
        app.deactivate("error", error.message);
      }
      throw error;
    }
  },

  // Fresh /me and recent check-ins; without a network, the copy kept from the last visit.
  async refresh() {
    try {
      const [me, list] = await Promise.all([app.api("GET", "/api/v1/me"), app.api("GET", "/api/v1/check-ins?limit=5")]);
      app.me = me;
      app.checkins = list.results;
      app.snapshotAt = null;
      store.snapshot = { me, checkins: list.results, at: new Date().toISOString() };
    } catch (error) {
      if (!(error instanceof NetworkError)) {
        throw error;
      }
      const kept = store.snapshot;
      if (kept && !app.me) {
        app.me = kept.me;
        app.checkins = kept.checkins;
      }
      app.snapshotAt = kept ? kept.at : null;
    }
    app.outbox = await outbox.entries();
    app.updated();
  },

  activated(token, client) {
    app.token = store.token = token;
    if (!store.language && supported(client.preferred_language)) {
      setLanguage(client.preferred_language);
    }
  },

  // Back to activation: the person removed the app's data, or the server no longer knows this
  // phone (revoked). Check-ins still waiting stay unless removed by the caller.
  deactivate(kind, message) {
    app.token = store.token = null;
    store.snapshot = null;
    store.appointments = null;
    app.me = null;
    app.flash(kind, message);
    app.go("activate");
  },

  go(screen) {
    const hash = `#/${screen}`;
    if (location.hash === hash) {
      render();
    } else {
      location.hash = hash;
    }
  },

  flash(kind, text) {
    app.pendingFlash = { kind, text };
  },

  // The message left for this screen by the one before, if any.
  takeFlash() {
    const flash = app.pendingFlash;
    app.pendingFlash = null;
    return flash ? notice(flash.kind, flash.text) : null;
  },

  announce(text) {
    announcer.textContent = "";
    setTimeout(() => {
      announcer.textContent = text;
    }, 50);
  },

  // The menu again, after a screen changed what it shows (a message marked read).
  menuChanged() {
    drawHeader();
  },

  onLeave(callback) {
    app.leaving.push(callback);
  },

  // A screen that shows live data sets this; it is called after every refresh.
  onUpdate(callback) {
    app.updating = callback;
  },

  updated() {
    app.updating?.();
  },

  // Reporting in the app needs both consents, and a condition (if any) that says remote.
  hasScreen(name) {
    return name in SCREENS;
  },

  canReport() {
    return Boolean(app.me?.consents.remote_reporting_allowed) && app.me.condition?.method !== "in_person";
  },

  needsConsent() {
    const consents = app.me?.consents;
    return Boolean(consents) && ["app_use", "biometric"].some((kind) => consents[kind].decision === null || consents[kind].renewal_needed);
  },

  // Send what waits in the outbox. Without an answer (no network, server busy), try again
  // later, waiting longer each time; the "online" event tries at once.
  async sendOutbox() {
    clearTimeout(retryTimer);
    if (!app.token) {
      return null;
    }
    const result = await outbox.flush(sendCheckin);
    if (result.sent.length > 0) {
      retryDelay = FIRST_RETRY_MS;
      app.announce(t("outbox_sent", { count: result.sent.length }));
    }
    if (result.retry) {
      const delay = Math.max(retryDelay, (result.retry.retryAfter || 0) * 1000);
      retryDelay = Math.min(retryDelay * 2, LAST_RETRY_MS);
      retryTimer = setTimeout(() => app.sendOutbox(), delay);
    }
    if ((result.sent.length > 0 || result.failed.length > 0) && app.token) {
      // What the server said may have changed what home shows (a window satisfied, or
      // reporting in the app turned off).
      await app.refresh().catch(() => {});
    } else {
      app.outbox = await outbox.entries();
      app.updated();
    }
    return result;
  },
};

let retryTimer = null;
let retryDelay = FIRST_RETRY_MS;

function sendCheckin(entry) {
  const form = new FormData();
  if (entry.frames) {
    // A liveness challenge: its frames in the order asked, the first frontal one is the selfie.
    entry.frames.forEach((frame, index) => form.append("frames", frame, `frame-${index + 1}.jpg`));
    form.append("challenge", entry.challenge);
  } else {
    form.append("selfie", entry.selfie, "selfie.jpg");
  }
  for (const name of CHECKIN_FIELDS) {
    if (entry[name]) {
      form.append(name, entry[name]);
    }
  }
  return app.api("POST", "/api/v1/check-ins", { form, headers: { "Idempotency-Key": entry.key } });
}

function currentScreen() {
  const name = location.hash.replace(/^#\//, "");
  if (!app.token) {
    return "activate";
  }
  if (name === "activate" || !SCREENS[name]) {
    return app.needsConsent() ? "consent" : "home";
  }
  if (app.needsConsent() && !["consent", "settings", "office", "messages", "appointments"].includes(name)) {
    return "consent";
  }
  return name;
}

// Values typed into a screen survive its redrawing (a language switch redraws it).
function typedValues() {
  const values = {};
  for (const control of main.querySelectorAll("input[name], textarea[name]")) {
    if (control.type !== "file" && control.type !== "radio" && control.value) {
      values[control.name] = control.value;
    }
  }
  return values;
}

let renderTicket = 0;

async function render({ keep = {} } = {}) {
  const ticket = ++renderTicket;
  for (const callback of app.leaving.splice(0)) {
    callback();
  }
  app.updating = null;
  const name = currentScreen();
  if (`#/${name}` !== location.hash) {
    history.replaceState(null, "", `#/${name}`);
  }
  app.screen = name;
  drawHeader();
  main.setAttribute("aria-busy", "true");
  const view = h("div", { class: `screen screen-${name}` });
  try {
    await SCREENS[name].render(app, view);
  } catch (error) {
    view.append(notice("error", error instanceof NetworkError ? t("error_offline") : error.message || t("error_unexpected")));
  }
  if (ticket !== renderTicket) {
    return; // another screen was asked for meanwhile; it is drawn instead
  }
  for (const [fieldName, value] of Object.entries(keep)) {
    const control = view.querySelector(`[name="${fieldName}"]`);
    if (control && !control.value) {
      control.value = value;
    }
  }
  main.replaceChildren(view);
  main.removeAttribute("aria-busy");
  // The screen may have learnt something the menu shows (Messages: the unread count).
  drawHeader();
  const heading = view.querySelector("h1");
  document.title = heading ? `${heading.textContent} – ReportIn` : "ReportIn";
  // Focus on the new screen's heading, so that screen readers and keyboards start there.
  (heading || main).setAttribute("tabindex", "-1");
  (heading || main).focus();
}

function drawHeader() {
  languageButton.textContent = languageName(otherLanguage());
  languageButton.lang = otherLanguage();
  document.getElementById("skip-link").textContent = t("skip_to_content");
  nav.hidden = !app.token;
  nav.setAttribute("aria-label", t("menu"));
  nav.replaceChildren(
    ...[
      ["home", t("nav_home")],
      ["messages", app.me?.unread_messages ? t("nav_messages_unread", { count: app.me.unread_messages }) : t("nav_messages")],
      ["appointments", t("nav_appointments")],
      ["office", t("nav_office")],
      ["settings", t("nav_settings")],
    ].map(([screen, label]) =>
      h("a", { href: `#/${screen}`, "aria-current": app.screen === screen ? "page" : false }, label),
    ),
  );
  drawNetwork();
}

function drawNetwork() {
  networkBanner.hidden = navigator.onLine;
  networkBanner.textContent = navigator.onLine ? "" : t("offline_banner");
}

async function switchLanguage(language) {
  setLanguage(language);
  store.language = language;
  const keep = typedValues();
  if (app.token) {
    // The person's language on the server too: notices, SMS and email come in it from now on.
    // Without a network the app's words change anyway; the server keeps the earlier choice.
    await app.api("PUT", "/api/v1/language", { json: { language } }).catch(() => {});
    // Texts from the server (statuses, what to do next) come in the new language.
    await app.refresh().catch(() => {});
  }
  await render({ keep });
  app.announce(t("language_changed"));
}
app.switchLanguage = switchLanguage;

// The service worker keeps the app's files for use without a network. Without it the app
// still works online; it just cannot open offline.
function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) {
    return;
  }
  const url = document.body.dataset.serviceWorker;
  // The page's Trusted Types policy allows script URLs vouched for by this policy only.
  const policy = window.trustedTypes?.createPolicy("reportin", {
    createScriptURL: (candidate) => {
      if (candidate !== url) {
        throw new TypeError(`not the app's service worker: ${candidate}`);
      }
      return candidate;
    },
  });
  navigator.serviceWorker.register(policy ? policy.createScriptURL(url) : url, { scope: document.body.dataset.scope }).catch(() => {});
}

async function start() {
  setLanguage(store.language || deviceLanguage());
  await loadStrings(document.body.dataset.strings);
  languageButton.addEventListener("click", () => switchLanguage(otherLanguage()));
  // The skip link must not change the address: "#main" is no screen.
  document.getElementById("skip-link").addEventListener("click", (event) => {
    event.preventDefault();
    (main.querySelector("h1") || main).focus();
  });
  window.addEventListener("hashchange", () => render());
  window.addEventListener("online", () => {
    drawNetwork();
    retryDelay = FIRST_RETRY_MS; // the failures counted so far were the missing network
    app.sendOutbox();
    if (app.token) {
      app.refresh().catch(() => {});
    }
  });
  window.addEventListener("offline", drawNetwork);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && app.token) {
      app.sendOutbox();
    }
  });
  registerServiceWorker();
  if (app.token) {
    try {
      await app.refresh();
    } catch (error) {
      // 401 already sent us to activation; anything else is shown on the screen.
      app.flash("error", error.message);
    }
  }
  await render();
  app.sendOutbox();
}

start();
