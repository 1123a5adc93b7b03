// Reporting in person: the person's CBSA office (address, hours, phone, languages), their case
// officer, and the windows missed lately (so that they can say which ones at the counter).

import { fill, h, notice } from "./dom.js";
import { dateTime, t } from "./i18n.js";

function officeSection(office) {
  if (!office) {
    return notice("info", t("office_none"));
  }
  // Numbers and addresses keep their own direction inside a right-to-left page.
  const phoneLink = h("a", { href: `tel:${office.phone.replace(/[^+\d]/g, "")}`, dir: "ltr" }, office.phone);
  const rows = [
    ["office_address", office.address],
    ["office_hours", office.hours],
    ["office_phone", phoneLink],
    ["office_languages", office.languages.join(", ")],
  ].filter(([, value]) => value);
  return h(
    "section", { class: "card", "aria-labelledby": "office-name" },
    h("h2", { id: "office-name", dir: "auto" }, office.name),
    h("dl", { class: "details" }, rows.map(([label, value]) => [h("dt", {}, t(label)), h("dd", { dir: "auto" }, value)])),
  );
}

function officerSection(officer) {
  return h(
    "section", { class: "card", "aria-labelledby": "officer-title" },
    h("h2", { id: "officer-title" }, t("officer_title")),
    h("p", {}, officer ? officer.name : t("officer_none")),
    h("p", { class: "hint" }, t("officer_hint")),
  );
}

function missedSection(me) {
  const missed = me.recent_missed_windows || [];
  if (missed.length === 0) {
    return null;
  }
  const zone = me.profile.time_zone;
  return h(
    "section", { class: "card", "aria-labelledby": "missed-title" },
    h("h2", { id: "missed-title" }, t("missed_title")),
    h("p", {}, t("missed_body")),
    h("ul", { class: "list" }, missed.map((window) => h("li", { class: "item" }, dateTime(window.opens_at, zone)))),
  );
}

export function render(app, view) {
  const me = app.me;
  fill(view, h("h1", {}, t("office_title")), app.takeFlash());
  if (!me) {
    view.append(notice("warning", t("home_needs_network")));
    return;
  }
  fill(
    view,
    h("p", {}, t("office_intro")),
    officeSection(me.office),
    officerSection(me.case_officer),
    missedSection(me),
  );
}
