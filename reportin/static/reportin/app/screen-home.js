// Home: the notices not read yet (a missed window, a check-in under review, an officer's
// decision...), whether and when to report (the current or next window, in the person's local
// time, with a countdown), the check-ins waiting on this phone, and the recent ones in plain words.

import { fill, h, notice } from "./dom.js";
import { dateTime, duration, t, time } from "./i18n.js";
import * as outbox from "./outbox.js";

const BEING_CHECKED = ["received", "scoring"];
const FAST_REFRESH_MS = 3000;
const SLOW_REFRESH_MS = 60000;
// A photo is usually checked within seconds; past this, asking every few seconds is no help.
const FAST_REFRESH_FOR_MS = 10 * 60 * 1000;

// A report for this window arrived ("reported" while its photo is checked), or it is settled.
function windowDone(app, window) {
  return ["reported", "satisfied"].includes(window.status) || app.checkins.some((item) => item.window?.id === window.id);
}

function action(me, code) {
  return me.pending_actions.find((item) => item.code === code);
}

function remoteOffSection(app, me) {
  const consentMissing = !me.consents.remote_reporting_allowed;
  return h(
    "section", { class: "notice notice-warning", "aria-labelledby": "remote-off" },
    h("h2", { id: "remote-off" }, t("remote_off_title")),
    h("p", {}, action(me, "report_in_person")?.message || t("report_in_person")),
    h("p", {}, t(consentMissing ? "remote_off_consent" : "remote_off_condition")),
    consentMissing
      ? h("button", { type: "button", class: "button secondary", onclick: () => { app.consentVisit = null; app.go("consent"); } }, t("review_consent"))
      : null,
  );
}

function windowSection(app, me, countdown) {
  const zone = me.profile.time_zone;
  const current = me.current_window;
  const next = me.next_window;
  if (current) {
    const reported = windowDone(app, current);
    countdown.target = reported ? null : current.closes_at;
    countdown.label = "window_closes_in";
    return h(
      "section", { class: "card window-open", "aria-labelledby": "window-title" },
      h("h2", { id: "window-title" }, t(reported ? "window_reported" : "window_open")),
      h("p", {}, t("window_until", { time: dateTime(current.closes_at, zone) })),
      reported ? h("p", {}, t("window_reported_body")) : countdown.element,
      next ? h("p", { class: "hint" }, t("window_next_short", { time: dateTime(next.opens_at, zone) })) : null,
    );
  }
  if (next) {
    countdown.target = next.opens_at;
    countdown.label = "window_opens_in";
    return h(
      "section", { class: "card", "aria-labelledby": "window-title" },
      h("h2", { id: "window-title" }, t("window_next")),
      h("p", {}, t("window_from_to", { from: dateTime(next.opens_at, zone), to: time(next.closes_at, zone) })),
      countdown.element,
    );
  }
  countdown.target = null;
  return h("section", { class: "card", "aria-labelledby": "window-title" }, h("h2", { id: "window-title" }, t("window_none")));
}

function reportingSection(app, me, countdown) {
  if (!app.canReport()) {
    countdown.target = null;
    return remoteOffSection(app, me);
  }
  const current = me.current_window;
  const due = current && !windowDone(app, current);
  return [
    me.condition ? windowSection(app, me, countdown) : notice("info", t("no_condition")),
    // Reporting outside a window is allowed (kept as an unscheduled report), but not urged.
    due
      ? h("a", { href: "#/check-in", class: "button primary big" }, t("check_in_now"))
      : h("a", { href: "#/check-in", class: "button secondary big" }, t("check_in_extra")),
  ];
}

// What the person can do from a notice. "explain" and "contest" answer through the messages
// screen (app.hasScreen), "read_messages" opens it; "see_appointments" opens the appointments.
function noticeActions(app, item) {
  // A missed window's notice also says where to report in person when the app cannot be used.
  const codes = item.kind === "missed_window" && !item.actions.includes("report_in_person") ? [...item.actions, "report_in_person"] : item.actions;
  return codes.map((code) => {
    if (code === "check_in_now" && app.canReport()) {
      return h("a", { href: "#/check-in", class: "button primary small" }, t("check_in_now"));
    }
    if (code === "report_in_person") {
      return h("a", { href: "#/office", class: "button secondary small" }, t("notice_office"));
    }
    if (code === "read_messages") {
      return h("a", { href: "#/messages", class: "button primary small" }, t("notice_read_messages"));
    }
    if (code === "see_appointments" && app.hasScreen("appointments")) {
      return h("a", { href: "#/appointments", class: "button primary small" }, t("notice_see_appointments"));
    }
    if ((code === "explain" || code === "contest") && app.hasScreen("messages")) {
      return h("button", {
        type: "button", class: "button secondary small",
        onclick: () => { app.messageAbout = { notice: item.id, action: code }; app.go("messages"); },
      }, t(code === "explain" ? "notice_explain" : "notice_contest"));
    }
    return null;
  });
}

function noticesSection(app, me) {
  const notices = me.pending_notices || [];
  if (notices.length === 0) {
    return null;
  }
  async function markRead(item, button) {
    button.disabled = true;
    try {
      await app.api("POST", `/api/v1/notices/${item.id}/read`);
      app.announce(t("notice_done"));
      await app.refresh();
    } catch (error) {
      button.disabled = false;
      button.after(notice("error", error.message));
    }
  }
  return h(
    "section", { class: "notices", "aria-labelledby": "notices-title" },
    h("h2", { id: "notices-title", class: "visually-hidden" }, t("notices_title")),
    notices.map((item) => {
      const read = h("button", { type: "button", class: "button secondary small" }, t("notice_read"));
      read.addEventListener("click", () => markRead(item, read));
      const kind = item.outcome === "accepted" ? "success" : ["missed_window", "remote_off"].includes(item.kind) || item.outcome === "not_accepted" ? "warning" : "info";
      return h(
        "article", { class: `notice notice-${kind}`, "data-notice": item.id, "aria-labelledby": `notice-${item.id}` },
        h("h3", { id: `notice-${item.id}` }, item.title),
        h("p", {}, item.body),
        h("div", { class: "row" }, noticeActions(app, item), read),
      );
    }),
  );
}

function outboxSection(app, zone) {
  if (app.outbox.length === 0) {
    return null;
  }
  return h(
    "section", { class: "card", "aria-labelledby": "outbox-title" },
    h("h2", { id: "outbox-title" }, t("outbox_title")),
    h(
      "ul", { class: "list" },
      app.outbox.map((entry) => h(
        "li", { class: `item item-${entry.state}` },
        h("span", { class: "item-time" }, t("photo_taken", { time: dateTime(entry.captured_at, zone) })),
        entry.state === "failed"
          ? [
            h("span", { class: "badge badge-error" }, t("outbox_failed")),
            h("p", {}, entry.error?.message || ""),
            h(
              "div", { class: "row" },
              h("button", { type: "button", class: "button secondary small", onclick: async () => { await outbox.retry(entry.key); app.sendOutbox(); } }, t("retry")),
              h("button", { type: "button", class: "button secondary small", onclick: async () => { await outbox.remove(entry.key); app.sendOutbox(); } }, t("delete")),
            ),
          ]
          : [h("span", { class: "badge badge-waiting" }, t("outbox_waiting")), h("p", {}, t("outbox_waiting_body"))],
      )),
    ),
  );
}

function historySection(app, zone) {
  return h(
    "section", { class: "card", "aria-labelledby": "history-title" },
    h("h2", { id: "history-title" }, t("history_title")),
    app.checkins.length === 0
      ? h("p", {}, t("history_empty"))
      : h(
        "ul", { class: "list" },
        app.checkins.map((item) => h(
          "li", { class: `item item-${item.status}`, "data-checkin": item.id },
          h("span", { class: "item-time" }, dateTime(item.captured_at, zone)),
          h("span", { class: `badge badge-${item.status}` }, t(`status_${item.status}`)),
          h("p", {}, item.status_text),
        )),
      ),
  );
}

export function render(app, view) {
  const me = app.me;
  if (!me) {
    fill(view, h("h1", {}, t("home_title")), app.takeFlash(), notice("warning", t("home_needs_network")));
    return;
  }
  const countdown = { element: h("p", { class: "countdown" }), target: null, label: null };
  const live = h("div", { class: "live" });
  let flash = app.takeFlash();
  let waiting = new Set(app.outbox.filter((entry) => entry.state === "waiting").map((entry) => entry.key));

  function tick() {
    if (!countdown.target) {
      return;
    }
    const left = new Date(countdown.target) - Date.now();
    countdown.element.textContent = t(countdown.label, { duration: duration(left) });
    if (left <= 0) {
      countdown.target = null;
      app.refresh().catch(() => {});
    }
  }

  let drawn = "";
  function draw() {
    const current = app.me;
    if (!current) {
      return; // the phone was just deactivated; activation is drawn next
    }
    if (waiting.size > 0 && !app.outbox.some((entry) => entry.state === "waiting" && waiting.has(entry.key))) {
      // A message saying "saved on this phone" is out of date: say they went, unless some were
      // refused (those stay listed below with the server's reason).
      const refused = app.outbox.some((entry) => waiting.has(entry.key));
      flash = refused ? null : notice("success", t("outbox_all_sent"));
      waiting = new Set();
    }
    // Redrawn only when something shown changed, so that focus and reading position stay.
    const state = JSON.stringify([current, app.checkins, app.outbox.map((entry) => [entry.key, entry.state, entry.error]), app.snapshotAt]);
    if (state === drawn) {
      return;
    }
    drawn = state;
    const zone = current.profile.time_zone;
    live.replaceChildren();
    fill(
      live,
      flash,
      app.snapshotAt ? notice("info", t("snapshot_note", { time: dateTime(app.snapshotAt, zone) })) : null,
      noticesSection(app, current),
      reportingSection(app, current, countdown),
      outboxSection(app, zone),
      historySection(app, zone),
    );
    tick();
  }

  // While a photo is being checked, ask often; otherwise now and then.
  let refreshTimer = null;
  let left = false;
  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    if (left) {
      return;
    }
    const checking = app.checkins.some(
      (item) => BEING_CHECKED.includes(item.status) && Date.now() - new Date(item.received_at) < FAST_REFRESH_FOR_MS,
    );
    refreshTimer = setTimeout(async () => {
      if (navigator.onLine) {
        await app.refresh().catch(() => {});
      }
      scheduleRefresh();
    }, checking ? FAST_REFRESH_MS : SLOW_REFRESH_MS);
  }

  const ticker = setInterval(tick, 1000);
  app.onLeave(() => {
    left = true;
    clearInterval(ticker);
    clearTimeout(refreshTimer);
  });
  app.onUpdate(() => {
    draw();
    scheduleRefresh();
  });

  fill(view, h("h1", {}, t("home_greeting", { name: me.profile.given_name })), live);
  draw();
  scheduleRefresh();
}
