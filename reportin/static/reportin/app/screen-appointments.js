// Appointments (issue 18.5): interviews, hearings, removal-related meetings and in-person
// reports that the officer set or recorded. Upcoming ones (soonest first) with when (in the
// person's zone), where and what to bring; then recent ones with what became of them. The last
// list is kept on the phone, so that the time and place can be read again without a network.

import { NetworkError } from "./api.js";
import { fill, h, notice } from "./dom.js";
import { dateTime, t } from "./i18n.js";
import { store } from "./store.js";

function place(item) {
  // Addresses keep their own direction inside a right-to-left page.
  return [
    h("span", { dir: "auto", class: "place-name" }, item.place.name),
    item.place.address ? [h("br"), h("span", { dir: "auto" }, item.place.address)] : null,
  ];
}

function phoneLink(phone) {
  return h("a", { href: `tel:${phone.replace(/[^+\d]/g, "")}`, dir: "ltr" }, phone);
}

// One appointment: its kind as a heading, then when, where, what to bring and (for past ones)
// what became of it, in words (the badge's colour only repeats them).
function appointmentItem(item, { past }) {
  const titleId = `appointment-${item.id}`;
  const rows = [
    ["appointment_when", h("time", { datetime: item.starts_at }, dateTime(item.starts_at, item.time_zone))],
    ["appointment_where", place(item)],
    item.place.hours ? ["office_hours", h("span", { dir: "auto" }, item.place.hours)] : null,
    item.place.phone ? ["office_phone", phoneLink(item.place.phone)] : null,
    item.bring ? ["appointment_bring", h("span", { dir: "auto" }, item.bring)] : null,
    past ? ["appointment_status", h("span", { class: `badge badge-appointment-${item.status}` }, item.status_label)] : null,
  ].filter(Boolean);
  return h(
    "li", { class: `appointment appointment-${item.status}`, "data-appointment": item.id },
    h(
      "article", { "aria-labelledby": titleId },
      h("h3", { id: titleId }, item.kind_label),
      h("dl", { class: "details" }, rows.map(([label, value]) => [h("dt", {}, t(label)), h("dd", {}, value)])),
    ),
  );
}

function section(id, title, items, { past, empty }) {
  return h(
    "section", { class: "card", "aria-labelledby": id },
    h("h2", { id }, title),
    items.length
      ? h("ul", { class: "list appointments" }, items.map((item) => appointmentItem(item, { past })))
      : h("p", {}, empty),
  );
}

export async function render(app, view) {
  fill(view, h("h1", {}, t("appointments_title")), app.takeFlash());
  let list;
  let keptAt = null;
  try {
    const answer = await app.api("GET", "/api/v1/appointments");
    list = { upcoming: answer.upcoming, recent: answer.recent };
    store.appointments = { ...list, at: new Date().toISOString() };
  } catch (error) {
    const kept = store.appointments;
    if (!(error instanceof NetworkError) || !kept) {
      throw error;
    }
    list = kept;
    keptAt = kept.at;
  }
  const zone = app.me?.profile.time_zone;
  fill(
    view,
    keptAt ? notice("info", t("snapshot_note", { time: dateTime(keptAt, zone) })) : null,
    section("upcoming-title", t("appointments_upcoming"), list.upcoming, { past: false, empty: t("appointments_none_upcoming") }),
    list.upcoming.length ? h("p", { class: "hint" }, t("appointments_reminders")) : null,
    section("recent-title", t("appointments_recent"), list.recent, { past: true, empty: t("appointments_none_recent") }),
  );
}
