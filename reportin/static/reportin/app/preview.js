// Guided capture: the camera's preview is checked on the phone before anything is sent, so that
// the person is told what to change (more light, hold still, come closer) instead of sending a
// photo that ends as "no face" or "quality too low" with an officer.
//
// Measured on the middle of the picture, where the oval asks for the face, at a small size:
// - brightness: the mean grey level (0-255); the server refuses a face below 40;
// - sharpness: the spread of the Laplacian relative to the contrast, the server's own measure
//   (biometrics/faces.py), which does not mistake a dim or flat picture for a blurred one;
// - a face, and its size, with the browser's FaceDetector where it has one (Chrome on Android
//   and macOS). Where it has none, that check is left to the server.

const SIZE = 160; // pixels across the sampled middle
export const LIMITS = { minBrightness: 50, maxBrightness: 225, minSharpness: 0.1, minFaceShare: 0.2 };

let detector;
function faceDetector() {
  if (detector === undefined) {
    detector = "FaceDetector" in window ? new window.FaceDetector({ fastMode: true, maxDetectedFaces: 2 }) : null;
  }
  return detector;
}

function middle(video) {
  const canvas = document.createElement("canvas");
  const side = Math.min(video.videoWidth, video.videoHeight);
  canvas.width = canvas.height = SIZE;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(video, (video.videoWidth - side) / 2, (video.videoHeight - side) / 2, side, side, 0, 0, SIZE, SIZE);
  return context.getImageData(0, 0, SIZE, SIZE).data;
}

// {brightness, sharpness} of the middle of the current frame.
export function figures(video) {
  const data = middle(video);
  const grey = new Float32Array(SIZE * SIZE);
  let sum = 0;
  for (let i = 0; i < grey.length; i += 1) {
    grey[i] = 0.299 * data[i * 4] + 0.587 * data[i * 4 + 1] + 0.114 * data[i * 4 + 2];
    sum += grey[i];
  }
  const mean = sum / grey.length;
  let spread = 0;
  for (const value of grey) {
    spread += (value - mean) ** 2;
  }
  const contrast = Math.sqrt(spread / grey.length);
  let lapSum = 0;
  let lapSquares = 0;
  let count = 0;
  for (let y = 1; y < SIZE - 1; y += 1) {
    for (let x = 1; x < SIZE - 1; x += 1) {
      const i = y * SIZE + x;
      const lap = 4 * grey[i] - grey[i - 1] - grey[i + 1] - grey[i - SIZE] - grey[i + SIZE];
      lapSum += lap;
      lapSquares += lap * lap;
      count += 1;
    }
  }
  const lapSpread = Math.sqrt(lapSquares / count - (lapSum / count) ** 2);
  return { brightness: mean, contrast, sharpness: lapSpread / Math.max(1, contrast) };
}

// The problems with the current frame, most important first: codes of strings.json
// ("preview_dark", "preview_bright", "preview_blurred", "preview_no_face", "preview_closer").
export async function problems(video, { faceCheck = true } = {}) {
  if (!video.videoWidth) {
    return [];
  }
  const found = [];
  const { brightness, sharpness } = figures(video);
  if (brightness < LIMITS.minBrightness) {
    found.push("preview_dark");
  } else if (brightness > LIMITS.maxBrightness) {
    found.push("preview_bright");
  } else if (sharpness < LIMITS.minSharpness) {
    found.push("preview_blurred");
  }
  const faces = faceCheck && !found.length ? faceDetector() : null;
  if (faces) {
    try {
      const detected = await faces.detect(video);
      if (!detected.length) {
        found.push("preview_no_face");
      } else if (Math.max(...detected.map((face) => face.boundingBox.width)) < LIMITS.minFaceShare * video.videoWidth) {
        found.push("preview_closer");
      }
    } catch {
      // The detector failed on this frame: say nothing rather than something wrong.
    }
  }
  return found;
}

// Check the preview every half second while the camera runs; `onChange(codes)` hears each change.
export function watch(video, onChange) {
  let last = "";
  let stopped = false;
  async function tick() {
    if (stopped) {
      return;
    }
    const codes = await problems(video);
    if (codes.join() !== last) {
      last = codes.join();
      onChange(codes);
    }
    setTimeout(tick, 500);
  }
  tick();
  return () => {
    stopped = true;
  };
}
