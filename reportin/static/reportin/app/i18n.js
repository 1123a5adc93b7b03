// The app's words (strings.json: English and French in full; Spanish, Punjabi, Hindi, Haitian
// Creole and Arabic as far as translated, any word missing there shown in English), and dates,
// times and durations in the reader's language. Arabic is written right to left.

// Each language in its own name, in the order the settings list them.
export const LANGUAGE_NAMES = {
  en: "English", fr: "Français", es: "Español", pa: "ਪੰਜਾਬੀ", hi: "हिन्दी", ht: "Kreyòl ayisyen", ar: "العربية",
};
const LANGUAGES = Object.keys(LANGUAGE_NAMES);
const RIGHT_TO_LEFT = ["ar"];
const LOCALES = { en: "en-CA", fr: "fr-CA", es: "es", pa: "pa-IN", hi: "hi-IN", ht: "ht", ar: "ar" };
let strings = { en: {} };
let language = "en";

export async function loadStrings(url) {
  const response = await fetch(url);
  strings = await response.json();
}

export function supported(candidate) {
  return LANGUAGES.includes(candidate);
}

// The phone's own language when it is one of ours, else English.
export function deviceLanguage() {
  const preferred = (navigator.languages || [navigator.language || "en"]).map((tag) => tag.slice(0, 2).toLowerCase());
  return preferred.find(supported) || "en";
}

export function setLanguage(next) {
  language = supported(next) ? next : "en";
  document.documentElement.lang = language;
  document.documentElement.dir = RIGHT_TO_LEFT.includes(language) ? "rtl" : "ltr";
}

export function currentLanguage() {
  return language;
}

// The header's one-touch switch: English <-> French; from any other language, English.
// (Every language is in Settings.)
export function otherLanguage() {
  return language === "en" ? "fr" : "en";
}

export function languageName(code) {
  return LANGUAGE_NAMES[code];
}

// t("key", {name: "Alex"}): the text for key in the current language, {name} filled in.
export function t(key, params = {}) {
  const text = strings[language]?.[key] ?? strings.en?.[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

function locale() {
  return LOCALES[language];
}

// A moment in the given IANA zone (the person's reporting zone), with the zone's short name.
export function dateTime(iso, timeZone) {
  return new Intl.DateTimeFormat(locale(), {
    weekday: "short", day: "numeric", month: "short", hour: "numeric", minute: "2-digit", timeZone, timeZoneName: "short",
  }).format(new Date(iso));
}

export function time(iso, timeZone) {
  return new Intl.DateTimeFormat(locale(), { hour: "numeric", minute: "2-digit", timeZone }).format(new Date(iso));
}

export function date(iso, timeZone) {
  return new Intl.DateTimeFormat(locale(), { day: "numeric", month: "long", year: "numeric", timeZone }).format(new Date(iso));
}

// "2 d 4 h", "3 h 05 min", "4 min 09 s".
export function duration(milliseconds) {
  const seconds = Math.max(0, Math.floor(milliseconds / 1000));
  const days = Math.floor(seconds / 86400);
  const hours = Math.floor((seconds % 86400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const pad = (value) => String(value).padStart(2, "0");
  if (days > 0) {
    return t("duration_days", { days, hours });
  }
  if (hours > 0) {
    return t("duration_hours", { hours, minutes: pad(minutes) });
  }
  return t("duration_minutes", { minutes, seconds: pad(seconds % 60) });
}
