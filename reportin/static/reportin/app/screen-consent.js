// The two consents, one after the other, each text in full as the server has it, each with its
// own "I agree" and "I do not agree". Saying no is a real choice: the person then reports in
// person, and the screen says so before they answer.

import { ApiError } from "./api.js";
import { fill, h, notice, paragraphs } from "./dom.js";
import { currentLanguage, t } from "./i18n.js";

const KINDS = ["app_use", "biometric"];

// The kinds still to answer in this visit: those not granted to the text in force, less those
// answered since the person came here (a "no" stays a "no" without asking again).
function remaining(app) {
  app.consentVisit ??= { answered: [] };
  return KINDS.filter((kind) => !app.me.consents[kind].granted && !app.consentVisit.answered.includes(kind));
}

export async function render(app, view) {
  const kinds = remaining(app);
  if (kinds.length === 0) {
    app.consentVisit = null;
    app.go("home");
    return;
  }
  const kind = kinds[0];
  const answered = app.consentVisit.answered.length;
  const total = answered + kinds.length;
  const text = await app.api("GET", `/api/v1/consent-text?kind=${kind}&language=${currentLanguage()}`);
  const status = h("div", { class: "form-status" });
  const buttons = [];

  async function answer(decision) {
    buttons.forEach((button) => {
      button.disabled = true;
    });
    status.replaceChildren();
    try {
      const state = await app.api("POST", "/api/v1/consents", {
        json: { kind, decision, text_version: text.version, language: text.language },
      });
      app.me.consents = state;
      app.consentVisit.answered.push(kind);
      app.flash(decision === "granted" ? "success" : "info", t(decision === "granted" ? "consent_given" : "consent_refused"));
      if (remaining(app).length === 0) {
        app.consentVisit = null;
        await app.refresh();
        app.go("home");
      } else {
        app.go("consent");
      }
    } catch (error) {
      buttons.forEach((button) => {
        button.disabled = false;
      });
      if (error instanceof ApiError && error.code === "text_version_outdated") {
        app.flash("warning", t("consent_text_changed"));
        app.go("consent"); // shows the new text
      } else {
        status.replaceChildren(notice("error", error.message));
      }
    }
  }

  buttons.push(
    h("button", { type: "button", class: "button choice", onclick: () => answer("granted") }, t("consent_agree")),
    h("button", { type: "button", class: "button choice", onclick: () => answer("refused") }, t("consent_disagree")),
  );
  fill(
    view,
    h("h1", {}, t("consent_heading")),
    app.takeFlash(),
    total > 1 ? h("p", { class: "step" }, t("consent_step", { step: answered + 1, total })) : null,
    h(
      "article", { class: "consent-text", "aria-labelledby": "consent-title", lang: text.language },
      h("h2", { id: "consent-title" }, text.title),
      paragraphs(text.body),
      h("p", { class: "hint" }, t("consent_version", { version: text.version })),
    ),
    h(
      "section", { class: "notice notice-info", "aria-labelledby": "consent-choice" },
      h("h2", { id: "consent-choice" }, t("consent_choice_title")),
      h("p", {}, t("consent_choice_body")),
      h("p", {}, t("consent_change_later")),
    ),
    status,
    h("div", { class: "choices" }, buttons),
  );
}
