// Messages with the officers (issue 18.4): a form to write, with an optional photo or PDF, and
// the conversation, newest first. Opened from a notice ("explain", "contest"), the message
// answers that notice, and the person's words go to the officer's task about it.

import { ApiError, NetworkError } from "./api.js";
import { field, fill, h, notice } from "./dom.js";
import { dateTime, t } from "./i18n.js";

function messageItem(app, message, zone) {
  const mine = message.direction === "to_officer";
  // Not read yet: said in words, beside who wrote it (not only by the button below).
  const fresh = !mine && !message.read ? h("span", { class: "badge" }, t("messages_new")) : null;
  const item = h(
    "li", { class: `item message message-${mine ? "mine" : "officer"}`, "data-message": message.id },
    h("p", { class: "hint" }, `${t(mine ? "messages_you" : "messages_officer")} · ${dateTime(message.created_at, zone)} `, fresh),
    h("p", { dir: "auto", class: "message-body" }, message.body),
    message.attachment ? h("p", { class: "hint" }, t(message.attachment === "pdf" ? "messages_pdf" : "messages_photo")) : null,
  );
  if (!mine && !message.read) {
    const button = h("button", { type: "button", class: "button secondary small" }, t("messages_mark_read"));
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await app.api("POST", `/api/v1/messages/${message.id}/read`);
        if (app.me && app.me.unread_messages > 0) {
          app.me.unread_messages -= 1;
          app.menuChanged();
        }
        fresh?.remove();
        button.replaceWith(h("p", { class: "hint" }, t("messages_marked_read")));
        app.announce(t("messages_marked_read"));
      } catch (error) {
        button.disabled = false;
        button.after(notice("error", error.message));
      }
    });
    item.append(button);
  }
  return item;
}

function composeForm(app) {
  const about = app.messageAbout;
  const label = about ? (about.action === "contest" ? "notice_contest" : "notice_explain") : "messages_write";
  const body = field({ label: t(label), tag: "textarea", name: "body", rows: 4, maxlength: 2000, required: true });
  const file = field({
    label: t("messages_attachment"), hint: t("messages_attachment_hint"), type: "file", name: "attachment",
    accept: "image/jpeg,image/png,image/heic,image/webp,application/pdf",
  });
  const status = h("div", { class: "form-status" });
  const submit = h("button", { type: "submit", class: "button primary" }, t("messages_send"));
  const form = h("form", { class: "card", id: "message-form", novalidate: true }, body.row, file.row, status, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    body.showError("");
    file.showError("");
    status.replaceChildren();
    if (!body.control.value.trim()) {
      body.showError(t("messages_empty"));
      body.control.focus();
      return;
    }
    const data = new FormData();
    data.append("body", body.control.value);
    if (file.control.files[0]) {
      data.append("attachment", file.control.files[0]);
    }
    if (about) {
      data.append("about", `notice:${about.notice}`);
    }
    submit.disabled = true;
    try {
      await app.api("POST", "/api/v1/messages", { form: data });
      app.messageAbout = null;
      app.flash("success", t("messages_sent"));
      app.go("messages");
    } catch (error) {
      submit.disabled = false;
      const fields = error instanceof ApiError ? error.fields : {};
      body.showError(fields.body || "");
      file.showError(fields.attachment || "");
      status.append(notice("error", error instanceof NetworkError ? t("error_offline") : error.message));
    }
  });
  return form;
}

export async function render(app, view) {
  fill(view, h("h1", {}, t("messages_title")), app.takeFlash());
  const page = await app.api("GET", "/api/v1/messages?limit=50");
  if (app.me) {
    app.me.unread_messages = page.unread;
  }
  const zone = app.me?.profile.time_zone;
  fill(
    view,
    composeForm(app),
    h("h2", {}, t("messages_history")),
    page.results.length
      ? h("ul", { class: "list messages" }, page.results.map((message) => messageItem(app, message, zone)))
      : h("p", {}, t("messages_none")),
  );
}
