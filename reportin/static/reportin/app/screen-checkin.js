// Check-in: a photo from the front camera (with a face oval to aim at, a preview and a retake),
// the position with its accuracy, and any change of address, employment or family status.
// Sending goes through the outbox: without a network the check-in waits on the phone.
//
// The preview is checked before a photo is taken (preview.js): too dark, too bright, blurred,
// no face or too far are said in words while the camera runs. Where the person's check-ins must
// answer a liveness challenge (me.liveness_required), the app asks the server for one and takes
// one photo per pose asked (look straight, turn left, turn right...), sent together with the
// challenge; a challenge lasts two minutes, so it is taken again if it ran out before sending.

import { field, fill, h, notice } from "./dom.js";
import { capture, locate, startCamera, stopCamera } from "./device.js";
import { dateTime, t } from "./i18n.js";
import * as outbox from "./outbox.js";
import * as preview from "./preview.js";

const CIRCUMSTANCES = [
  ["address", "textarea", 500],
  ["employment", "input", 300],
  ["family_status", "input", 300],
];

const CAMERA_ERRORS = {
  NotAllowedError: "camera_denied",
  SecurityError: "camera_denied",
  NotFoundError: "camera_missing",
  OverconstrainedError: "camera_missing",
  NotReadableError: "camera_busy",
};

const LOCATION_ERRORS = { 1: "location_denied", 2: "location_unavailable", 3: "location_timeout" };

export function render(app, view) {
  const me = app.me;
  if (!app.canReport()) {
    fill(
      view,
      h("h1", {}, t("checkin_title")),
      notice("warning", me ? t("remote_off_title") : t("home_needs_network")),
      h("a", { href: "#/home", class: "button secondary" }, t("back_home")),
    );
    return;
  }
  const draft = (app.draft ??= {});
  const zone = me.profile.time_zone;
  let left = false;
  let stream = null;
  let stopWatching = () => {};
  app.onLeave(() => {
    left = true;
    stopWatching();
    stopCamera(stream);
  });

  const photoSection = h("section", { class: "card", "aria-labelledby": "photo-title" });
  const locationSection = h("section", { class: "card", "aria-labelledby": "location-title" });
  const sendHint = h("p", { class: "hint", id: "send-hint" });
  const send = h("button", { type: "button", class: "button primary big", "aria-describedby": "send-hint", onclick: submit }, t("send_checkin"));
  const status = h("div", { class: "form-status" });

  function updateSend() {
    const ready = Boolean(draft.photo && draft.fix && (!me.liveness_required || draft.frames));
    send.disabled = !ready;
    sendHint.textContent = ready ? t("send_ready") : t("send_needs");
  }

  function usePhoto(blob) {
    draft.photo = blob;
    draft.photoUrl = URL.createObjectURL(blob);
    // One key per photo: a retry of this check-in repeats it, a new photo gets a new one.
    draft.key = crypto.randomUUID();
    draft.captured_at = new Date().toISOString();
    drawPhoto();
    photoSection.querySelector("button")?.focus();
    app.announce(t("photo_ready"));
  }

  function retake() {
    URL.revokeObjectURL(draft.photoUrl);
    draft.photo = draft.photoUrl = draft.key = draft.captured_at = null;
    draft.frames = draft.challenge = draft.challengeExpires = null;
    drawPhoto();
  }

  // The challenge's frames are all taken: the frontal one is the photo shown and kept.
  function useFrames(challenge, frames) {
    draft.frames = frames;
    draft.challenge = challenge.challenge;
    draft.challengeExpires = challenge.expires_at;
    usePhoto(frames[challenge.poses.indexOf("frontal")]);
  }

  function drawPhoto() {
    photoSection.replaceChildren(h("h2", { id: "photo-title" }, t("photo_title")));
    updateSend();
    if (draft.photo) {
      fill(
        photoSection,
        h("img", { class: "preview", src: draft.photoUrl, alt: t("photo_alt") }),
        h("p", {}, t("photo_taken", { time: dateTime(draft.captured_at, zone) })),
        h("button", { type: "button", class: "button secondary", onclick: retake }, t("retake")),
      );
      return;
    }
    const video = h("video", { class: "camera-video", autoplay: true, playsinline: true, "aria-hidden": "true" });
    video.muted = true;
    const take = h("button", { type: "button", class: "button primary", disabled: true }, t("take_photo"));
    const cameraStatus = h("div", { class: "camera-status", role: "status" }, t("camera_starting"));
    // What to change, said while the camera runs (and again when a photo is refused).
    const advice = h("div", { class: "preview-advice", id: "preview-advice", role: "status", "aria-live": "polite" });
    const step = h("p", { class: "challenge-step", id: "challenge-step" });
    const anyway = h("button", { type: "button", class: "button secondary", hidden: true }, t("preview_take_anyway"));
    let challenge = null;
    const frames = [];

    function advise(codes) {
      advice.replaceChildren(...codes.map((code) => notice("warning", t(code))));
    }

    function showStep() {
      if (!challenge) {
        return;
      }
      const index = frames.length;
      step.textContent = t("challenge_step", { n: index + 1, count: challenge.poses.length, what: challenge.instructions[index] });
      take.textContent = t("challenge_take", { n: index + 1, count: challenge.poses.length });
    }

    async function keep(blob) {
      if (!challenge) {
        stopWatching();
        stopCamera(stream);
        stream = null;
        usePhoto(blob);
        return;
      }
      frames.push(blob);
      if (frames.length < challenge.poses.length) {
        showStep();
        take.disabled = false;
        take.focus();
        app.announce(step.textContent);
        return;
      }
      stopWatching();
      stopCamera(stream);
      stream = null;
      useFrames(challenge, frames.splice(0));
    }

    take.addEventListener("click", async () => {
      take.disabled = true;
      anyway.hidden = true;
      // A turned head is meant to be off-centre: only light and focus are checked then.
      const pose = challenge ? challenge.poses[frames.length] : "frontal";
      const found = await preview.problems(video, { faceCheck: pose === "frontal" });
      const blob = await capture(video);
      if (found.length) {
        advise(found);
        anyway.hidden = false;
        anyway.onclick = () => {
          anyway.hidden = true;
          advise([]);
          keep(blob);
        };
        take.disabled = false;
        return;
      }
      keep(blob);
    });

    let challengeFailed = false;
    async function startChallenge() {
      if (!me.liveness_required) {
        return;
      }
      try {
        challenge = await app.api("POST", "/api/v1/check-ins/challenge");
      } catch (error) {
        // Without a challenge (no network) there is nothing the app could send: say so.
        challengeFailed = true;
        cameraStatus.replaceChildren(notice("error", error.status ? error.message : t("challenge_unavailable")));
        throw error;
      }
      showStep();
    }

    fill(
      photoSection,
      h("p", {}, t(me.liveness_required ? "challenge_instructions" : "photo_instructions")),
      step,
      h("div", { class: "camera" }, video, h("div", { class: "oval", "aria-hidden": "true" })),
      cameraStatus,
      advice,
      take,
      anyway,
    );
    // The challenge first: its two minutes start now, and without one the camera is not needed.
    startChallenge().then(() => startCamera(video)).then(
      (started) => {
        stream = started;
        if (left) {
          stopCamera(stream);
          return;
        }
        cameraStatus.textContent = "";
        take.disabled = false;
        stopWatching = preview.watch(video, advise);
      },
      (error) => {
        if (challengeFailed) {
          take.replaceWith(h("button", { type: "button", class: "button secondary", onclick: drawPhoto }, t("camera_retry")));
          return;
        }
        cameraStatus.replaceChildren(notice("error", t(CAMERA_ERRORS[error.name] || "camera_unsupported")));
        if (me.liveness_required) {
          take.replaceWith(h("button", { type: "button", class: "button secondary", onclick: drawPhoto }, t("camera_retry")));
          return;
        }
        // The phone's own camera app, through a file input, when the live preview cannot run.
        const picker = field({ label: t("photo_from_camera_app"), name: "photo_file", type: "file", accept: "image/jpeg,image/png", capture: "user" });
        picker.control.addEventListener("change", () => {
          if (picker.control.files[0]) {
            usePhoto(picker.control.files[0]);
          }
        });
        take.replaceWith(picker.row, h("button", { type: "button", class: "button secondary", onclick: drawPhoto }, t("camera_retry")));
      },
    );
  }

  function drawLocation(state) {
    const body = {
      locating: () => h("p", {}, t("location_finding")),
      found: () => h("p", {}, t("location_found", { accuracy: Math.round(draft.fix.accuracy) })),
      failed: () => [
        notice("error", t(LOCATION_ERRORS[draft.fixError] || "location_unavailable")),
        h("button", { type: "button", class: "button secondary", onclick: findLocation }, t("location_retry")),
      ],
    }[state]();
    locationSection.replaceChildren();
    fill(locationSection, h("h2", { id: "location-title" }, t("location_title")), h("div", { role: "status" }, body));
    updateSend();
  }

  async function findLocation() {
    drawLocation(draft.fix ? "found" : "locating");
    try {
      draft.fix = await locate();
      drawLocation("found");
    } catch (error) {
      draft.fixError = error.code;
      draft.fix = null;
      drawLocation("failed");
    }
  }

  async function submit() {
    if (draft.challengeExpires && new Date(draft.challengeExpires) < new Date()) {
      status.replaceChildren(notice("error", t("challenge_expired")));
      retake();
      return;
    }
    send.disabled = true;
    send.textContent = t("sending");
    const entry = {
      key: draft.key,
      ...(draft.frames ? { frames: draft.frames, challenge: draft.challenge } : { selfie: draft.photo }),
      latitude: String(draft.fix.latitude),
      longitude: String(draft.fix.longitude),
      // The API wants more than 0; no real fix is better than a metre.
      accuracy_m: String(Math.max(1, Math.round(draft.fix.accuracy * 10) / 10)),
      captured_at: draft.captured_at,
    };
    for (const [name] of CIRCUMSTANCES) {
      const value = (draft[name] || "").trim();
      if (value) {
        entry[name] = value;
      }
    }
    try {
      await outbox.add(entry);
    } catch (error) {
      status.replaceChildren(notice("error", t("error_storage")));
      send.textContent = t("send_checkin");
      updateSend();
      return;
    }
    URL.revokeObjectURL(draft.photoUrl);
    app.draft = null;
    const result = await app.sendOutbox();
    const failed = result?.failed.find((item) => item.key === entry.key);
    if (result?.sent.some((item) => item.entry.key === entry.key)) {
      app.flash("success", t("checkin_sent"));
    } else if (failed) {
      app.flash("error", t("checkin_refused", { message: failed.error.message }));
    } else {
      app.flash("info", t("checkin_saved"));
    }
    app.go("home");
  }

  const changes = CIRCUMSTANCES.map(([name, tag, maxlength]) => {
    const item = field({
      label: t(`${name}_label`),
      hint: t("currently", { value: me.profile[name] || t("not_given") }),
      name,
      tag,
      maxlength,
      autocomplete: name === "address" ? "street-address" : "off",
    });
    item.control.value = draft[name] || "";
    item.control.addEventListener("input", () => {
      draft[name] = item.control.value;
    });
    return item.row;
  });

  fill(
    view,
    h("h1", {}, t("checkin_title")),
    photoSection,
    locationSection,
    h(
      "details", { class: "card", open: CIRCUMSTANCES.some(([name]) => draft[name]) },
      h("summary", {}, t("changes_title")),
      h("p", { class: "hint" }, t("changes_hint")),
      changes,
    ),
    status,
    send,
    sendHint,
  );
  drawPhoto();
  findLocation();
}
