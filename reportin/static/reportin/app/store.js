// What the app keeps on the phone besides the outbox: the device token, the chosen language
// and the last answers of /me and of the appointments (so that they show without a network).

const PREFIX = "reportin.";

function read(name) {
  try {
    return JSON.parse(localStorage.getItem(PREFIX + name));
  } catch {
    return null;
  }
}

function write(name, value) {
  if (value === null || value === undefined) {
    localStorage.removeItem(PREFIX + name);
  } else {
    localStorage.setItem(PREFIX + name, JSON.stringify(value));
  }
}

export const store = {
  get token() { return read("token"); },
  set token(value) { write("token", value); },
  get language() { return read("language"); },
  set language(value) { write("language", value); },
  // {me, checkins, at}: the last answers from the server, and when they came.
  get snapshot() { return read("snapshot"); },
  set snapshot(value) { write("snapshot", value); },
  // {upcoming, recent, at}: the last answer of GET /api/v1/appointments (screen-appointments.js).
  get appointments() { return read("appointments"); },
  set appointments(value) { write("appointments", value); },
};
