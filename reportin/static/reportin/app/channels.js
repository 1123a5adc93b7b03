// Settings: how the person wants reminders and notices (email, text message, notifications on
// this phone), each with the words they agree to. Push goes through the app's service worker.

import { ApiError, NetworkError } from "./api.js";
import { field, fill, h, notice } from "./dom.js";
import { currentLanguage, t } from "./i18n.js";

// The VAPID key (base64url) as the bytes PushManager.subscribe wants.
function keyBytes(base64url) {
  const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (base64url.length % 4)) % 4);
  return Uint8Array.from(atob(base64), (character) => character.charCodeAt(0));
}

export function pushSupported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

// This phone's push subscription, made through the service worker if there is none yet.
async function subscribe(vapidKey) {
  const permission = await Notification.requestPermission();
  if (permission !== "granted") {
    throw new Error(t("push_denied"));
  }
  const registration = await navigator.serviceWorker.ready;
  const existing = await registration.pushManager.getSubscription();
  const subscription = existing || await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(vapidKey) });
  const { endpoint, keys } = subscription.toJSON();
  return { channel: "push", push_endpoint: endpoint, push_p256dh: keys.p256dh, push_auth: keys.auth };
}

export async function unsubscribe() {
  if (!pushSupported()) {
    return;
  }
  const registration = await navigator.serviceWorker.getRegistration();
  const subscription = await registration?.pushManager.getSubscription();
  await subscription?.unsubscribe().catch(() => {});
}

export async function section(app) {
  const box = h("section", { class: "card", "aria-labelledby": "channels-title" });
  let data;
  try {
    data = await app.api("GET", "/api/v1/channels");
  } catch (error) {
    box.append(h("h2", { id: "channels-title" }, t("channels_title")), notice("warning", error instanceof NetworkError ? t("home_needs_network") : error.message));
    return box;
  }
  draw(app, box, data);
  return box;
}

function draw(app, box, data, flash = null) {
  const chosen = Object.fromEntries(data.channels.map((item) => [item.channel, item]));
  const status = h("div", { class: "form-status" });
  const boxes = {};
  const number = field({
    label: t("sms_number"), hint: chosen.sms ? t("sms_number_again", { number: chosen.sms.address }) : t("sms_number_hint"),
    name: "sms_number", type: "tel", inputmode: "tel", autocomplete: "tel", maxlength: 16,
  });
  const pushReady = pushSupported() && Boolean(data.vapid_public_key);
  const options = data.available.map((item) => {
    const disabled = item.channel === "push" && !pushReady;
    const checkbox = h("input", { type: "checkbox", name: "channel", value: item.channel, checked: Boolean(chosen[item.channel]) && !disabled, disabled });
    boxes[item.channel] = checkbox;
    const consentId = `channel-consent-${item.channel}`;
    checkbox.setAttribute("aria-describedby", consentId);
    return h(
      "div", { class: "channel", "data-channel": item.channel },
      h("label", { class: "radio" }, checkbox, item.name),
      h("p", { class: "consent-small", id: consentId }, item.consent_text),
      item.channel === "sms" ? number.row : null,
      disabled ? h("p", { class: "hint" }, t("push_unavailable")) : null,
    );
  });
  const showNumber = () => { number.row.hidden = !boxes.sms?.checked; };
  boxes.sms?.addEventListener("change", showNumber);
  showNumber();
  const save = h("button", { type: "submit", class: "button primary" }, t("channels_save"));

  async function submit(event) {
    event.preventDefault();
    status.replaceChildren();
    number.showError(null);
    const channels = [];
    if (boxes.email?.checked) channels.push({ channel: "email" });
    if (boxes.sms?.checked) {
      const value = number.control.value.replace(/[\s().-]/g, "");
      if (!/^\+[1-9]\d{7,14}$/.test(value)) {
        number.showError(t("sms_number_invalid"));
        number.control.focus();
        return;
      }
      channels.push({ channel: "sms", address: value });
    }
    save.disabled = true;
    try {
      if (boxes.push?.checked) {
        channels.push(await subscribe(data.vapid_public_key));
      }
      const answer = await app.api("PUT", "/api/v1/channels", { json: { language: currentLanguage(), channels } });
      if (!boxes.push?.checked && chosen.push) {
        await unsubscribe();
      }
      app.announce(t("channels_saved"));
      draw(app, box, answer, notice("success", t("channels_saved")));
    } catch (error) {
      save.disabled = false;
      const text = error instanceof NetworkError ? t("error_offline") : error.message;
      if (error instanceof ApiError && Object.keys(error.fields).some((name) => name.includes("address"))) {
        number.showError(text);
      }
      status.replaceChildren(notice("error", text));
    }
  }

  number.control.addEventListener("input", () => number.showError(null));
  box.replaceChildren();
  fill(
    box,
    h("h2", { id: "channels-title" }, t("channels_title")),
    flash,
    h("p", {}, t("channels_intro")),
    h("form", { novalidate: true, onsubmit: submit }, h("fieldset", {}, h("legend", { class: "visually-hidden" }, t("channels_title")), options), status, save),
  );
}
