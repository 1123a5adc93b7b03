// Settings: language, the channels for reminders and notices, the two consents (withdraw one,
// or answer again), the person's details as the officer has them, and removing ReportIn from
// this phone (the server stops the token at once: DELETE /api/v1/device).

import { ApiError, NetworkError } from "./api.js";
import * as channels from "./channels.js";
import { fill, h, notice } from "./dom.js";
import { LANGUAGE_NAMES, currentLanguage, date, t } from "./i18n.js";
import * as outbox from "./outbox.js";

const KINDS = ["app_use", "biometric"];

// A button that first shows what it will do, with "yes" and "cancel".
function confirmable({ label, warning, confirm, onConfirm }) {
  const box = h("div", { class: "confirm" });
  const start = h("button", { type: "button", class: "button secondary" }, label);
  function ask() {
    const yes = h("button", { type: "button", class: "button danger" }, confirm);
    const no = h("button", { type: "button", class: "button secondary" }, t("cancel"));
    yes.addEventListener("click", async () => {
      yes.disabled = no.disabled = true;
      await onConfirm(box);
      yes.disabled = no.disabled = false;
    });
    no.addEventListener("click", () => {
      box.replaceChildren(start);
      start.focus();
    });
    box.replaceChildren(notice("warning", warning), h("div", { class: "row" }, yes, no));
    yes.focus();
  }
  start.addEventListener("click", ask);
  box.append(start);
  return box;
}

function consentState(state, zone) {
  if (state.granted) {
    return t("consent_state_granted", { date: date(state.recorded_at, zone) });
  }
  if (state.renewal_needed) {
    return t("consent_state_renew");
  }
  return state.decision ? t(`consent_state_${state.decision}`, { date: date(state.recorded_at, zone) }) : t("consent_state_none");
}

function consentSection(app, me) {
  const zone = me.profile.time_zone;
  return h(
    "section", { class: "card", "aria-labelledby": "consent-settings" },
    h("h2", { id: "consent-settings" }, t("settings_consent")),
    KINDS.map((kind) => {
      const state = me.consents[kind];
      return h(
        "div", { class: "consent-row", "data-kind": kind },
        h("h3", {}, t(`consent_kind_${kind}`)),
        h("p", {}, consentState(state, zone)),
        state.granted
          ? confirmable({
            label: t("withdraw"),
            warning: t("withdraw_warning"),
            confirm: t("withdraw_confirm"),
            onConfirm: async (box) => {
              try {
                await app.api("POST", "/api/v1/consents", {
                  json: { kind, decision: "withdrawn", text_version: state.text_version, language: currentLanguage() },
                });
                await app.refresh();
                app.flash("info", t("withdrawn"));
                app.go("home");
              } catch (error) {
                box.prepend(notice("error", error.message));
              }
            },
          })
          : h("button", { type: "button", class: "button secondary", onclick: () => { app.consentVisit = null; app.go("consent"); } }, t("consent_read")),
      );
    }),
  );
}

function detailsSection(me) {
  const profile = me.profile;
  const rows = [
    ["detail_name", `${profile.given_name} ${profile.family_name}`],
    ["detail_uci", profile.uci],
    ["detail_region", profile.region.name],
    ["detail_time_zone", profile.time_zone],
    ["address_label", profile.address || t("not_given")],
    ["employment_label", profile.employment || t("not_given")],
    ["family_status_label", profile.family_status || t("not_given")],
  ];
  return h(
    "section", { class: "card", "aria-labelledby": "details-title" },
    h("h2", { id: "details-title" }, t("settings_details")),
    h("dl", { class: "details" }, rows.map(([label, value]) => [h("dt", {}, t(label)), h("dd", { dir: "auto" }, value)])),
    h("p", { class: "hint" }, t("details_hint")),
  );
}

export async function render(app, view) {
  const me = app.me;
  const language = currentLanguage();
  const choices = Object.entries(LANGUAGE_NAMES).map(([code, name]) => h(
    "label", { class: "radio", lang: code },
    h("input", { type: "radio", name: "language", value: code, checked: code === language, onchange: () => app.switchLanguage(code) }),
    name,
  ));
  const waiting = (await outbox.entries()).length;
  fill(
    view,
    h("h1", {}, t("settings_title")),
    app.takeFlash(),
    h("section", { class: "card" }, h("fieldset", {}, h("legend", {}, t("settings_language")), choices)),
    me ? await channels.section(app) : null,
    me ? consentSection(app, me) : notice("warning", t("home_needs_network")),
    me ? detailsSection(me) : null,
    h(
      "section", { class: "card", "aria-labelledby": "phone-title" },
      h("h2", { id: "phone-title" }, t("settings_phone")),
      h("p", {}, t("forget_explain")),
      confirmable({
        label: t("forget"),
        warning: waiting > 0 ? t("forget_warning_waiting", { count: waiting }) : t("forget_warning"),
        confirm: t("forget_confirm"),
        onConfirm: async (box) => {
          try {
            await app.api("DELETE", "/api/v1/device");
          } catch (error) {
            // 401: the server no longer knows this phone; there is nothing left to stop there.
            if (!(error instanceof ApiError && error.status === 401)) {
              box.prepend(notice("error", error instanceof NetworkError ? t("forget_needs_network") : error.message));
              return;
            }
          }
          for (const entry of await outbox.entries()) {
            await outbox.remove(entry.key);
          }
          await channels.unsubscribe();
          app.deactivate("info", t("forgotten"));
        },
      }),
    ),
  );
}
