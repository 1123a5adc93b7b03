// Activation: the code an officer gave, the UCI and the date of birth, for a device token.

import { ApiError, NetworkError } from "./api.js";
import { field, fill, h, notice } from "./dom.js";
import { t } from "./i18n.js";

function deviceName() {
  const platform = navigator.userAgentData?.platform || navigator.platform || "";
  return `${t("device_name")}${platform ? ` (${platform})` : ""}`.slice(0, 100);
}

export function render(app, view) {
  const fields = {
    activation_code: field({
      label: t("activation_code"), hint: t("activation_code_hint"), name: "activation_code", required: true,
      autocomplete: "off", autocapitalize: "characters", spellcheck: "false", maxlength: 32,
    }),
    uci: field({
      label: t("uci"), hint: t("uci_hint"), name: "uci", required: true, inputmode: "numeric", autocomplete: "off", maxlength: 10,
    }),
    date_of_birth: field({ label: t("date_of_birth"), hint: t("date_of_birth_hint"), name: "date_of_birth", type: "date", required: true }),
  };
  const status = h("div", { class: "form-status" });
  const submit = h("button", { type: "submit", class: "button primary" }, t("activate"));

  function check() {
    const problems = {};
    const code = fields.activation_code.control.value.trim();
    const uci = fields.uci.control.value.trim();
    const born = fields.date_of_birth.control.value;
    if (!code) problems.activation_code = t("required_field");
    if (!/^\d{8,10}$/.test(uci)) problems.uci = t("uci_invalid");
    if (!/^\d{4}-\d{2}-\d{2}$/.test(born)) problems.date_of_birth = t("date_invalid");
    return { problems, data: { activation_code: code, uci, date_of_birth: born } };
  }

  function showProblems(problems) {
    for (const [name, item] of Object.entries(fields)) {
      item.showError(problems[name]);
    }
    const first = Object.keys(fields).find((name) => problems[name]);
    if (first) {
      fields[first].control.focus();
    }
  }

  async function activate(event) {
    event.preventDefault();
    status.replaceChildren();
    const { problems, data } = check();
    showProblems(problems);
    if (Object.keys(problems).length > 0) {
      return;
    }
    submit.disabled = true;
    submit.textContent = t("activating");
    try {
      const answer = await app.api("POST", "/api/v1/activate", { json: { ...data, device_name: deviceName(), platform: "web" } });
      app.activated(answer.token, answer.client);
      await app.refresh();
      app.flash("success", t("activated", { name: answer.client.given_name }));
      app.go(app.needsConsent() ? "consent" : "home");
    } catch (error) {
      submit.disabled = false;
      submit.textContent = t("activate");
      if (error instanceof NetworkError) {
        status.replaceChildren(notice("error", t("error_offline_activation")));
      } else if (error instanceof ApiError && Object.keys(error.fields).length > 0) {
        showProblems(error.fields);
        status.replaceChildren(notice("error", error.message));
      } else {
        status.replaceChildren(notice("error", error.message));
      }
    }
  }

  fill(
    view,
    h("h1", {}, t("activate_title")),
    app.takeFlash(),
    h("p", {}, t("activate_intro")),
    h("form", { novalidate: true, onsubmit: activate }, Object.values(fields).map((item) => item.row), status, submit),
    h("p", { class: "hint" }, t("activate_help")),
  );
}
