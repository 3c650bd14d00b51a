// Local media for the demo: the camera and microphone when there are any,
// otherwise synthetic stand-ins (a canvas animation and a silent audio
// track) so a call still connects and shows moving video. No DOM tree
// access: the canvas is never attached to the page.

const VIDEO = { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 24, max: 30 } };
const SYNTH_W = 640;
const SYNTH_H = 360;
const SYNTH_FPS = 15;

/**
 * Acquires local media, falling back step by step.
 * @param {string} label drawn on the synthetic video (e.g. the user's name)
 * @param {{videoDevice?: string, audioDevice?: string}} [devices] deviceIds picked by the user
 * @returns {Promise<{stream: MediaStream|null, mode: string, description: string, error: string,
 *   problem: string|null, cameraVideo: boolean, stop: () => void}>}
 *   mode: "camera" (camera and mic), "mixed" (one device, one synthetic),
 *   "synthetic" (no devices) or "receive-only" (nothing to send).
 */
export async function acquireMedia(label, { videoDevice = "", audioDevice = "" } = {}) {
  const video = videoDevice ? { ...VIDEO, deviceId: { exact: videoDevice } } : VIDEO;
  const audio = audioDevice ? { deviceId: { exact: audioDevice } } : true;
  const real = { audio: null, video: null };
  let why = ""; // short reason for the badge
  let error = ""; // the browser's own words, for the console
  let problem = null; // "denied", "busy" or "insecure": something the user can fix
  const md = typeof navigator !== "undefined" ? navigator.mediaDevices : undefined;
  if (!md || !md.getUserMedia) {
    why = "needs HTTPS";
    problem = "insecure";
  } else {
    const both = await tryGetUserMedia(md, { audio, video });
    if (both instanceof MediaStream) {
      real.audio = both.getAudioTracks()[0] || null;
      real.video = both.getVideoTracks()[0] || null;
    } else {
      why = describe(both);
      error = `${both.name}: ${both.message}`;
      if (both.name === "NotAllowedError" || both.name === "SecurityError") problem = "denied";
      else if (both.name === "NotReadableError") problem = "busy";
      // Denied means denied for both; a missing device may be just one.
      if (both.name !== "NotAllowedError" && both.name !== "SecurityError") {
        const v = await tryGetUserMedia(md, { video });
        if (v instanceof MediaStream) real.video = v.getVideoTracks()[0];
        const a = await tryGetUserMedia(md, { audio });
        if (a instanceof MediaStream) real.audio = a.getAudioTracks()[0];
      }
    }
  }

  const stops = [];
  const tracks = [];
  if (real.audio) tracks.push(real.audio);
  else {
    const s = silentAudio();
    if (s) {
      tracks.push(s.track);
      stops.push(s.stop);
    }
  }
  if (real.video) tracks.push(real.video);
  else {
    const s = syntheticVideo(label);
    if (s) {
      tracks.push(s.track);
      stops.push(s.stop);
    }
  }
  const stop = () => {
    for (const t of tracks) t.stop();
    for (const f of stops) f();
  };

  const realCount = (real.audio ? 1 : 0) + (real.video ? 1 : 0);
  if (problem === "busy" && real.audio && real.video) problem = null; // the second try got both
  const result = (stream, mode, description) => ({ stream, mode, description, error, problem, cameraVideo: !!real.video, stop });
  if (tracks.length === 0) {
    return result(null, "receive-only", `Receive only · ${why || "no media"}`);
  }
  const stream = new MediaStream(tracks);
  if (realCount === 2) return result(stream, "camera", "Camera & mic");
  if (realCount === 1) {
    return result(stream, "mixed", real.video ? "Camera · no mic" : "Mic · test pattern");
  }
  return result(stream, "synthetic", `Test pattern · ${why || "no camera"}`);
}

async function tryGetUserMedia(md, constraints) {
  try {
    return await md.getUserMedia(constraints);
  } catch (err) {
    return err;
  }
}

function describe(err) {
  switch (err && err.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "permission denied";
    case "NotFoundError":
    case "OverconstrainedError":
      return "no camera";
    case "NotReadableError":
      return "device busy";
    default:
      return "no camera";
  }
}

// A silent track from WebAudio: a muted oscillator into a stream
// destination. An AudioContext created without a user gesture may start
// suspended; its track then carries silence, which is all we want.
function silentAudio() {
  const Ctx = globalThis.AudioContext || globalThis.webkitAudioContext;
  if (!Ctx) return null;
  try {
    const ctx = new Ctx();
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    gain.gain.value = 0;
    const dest = ctx.createMediaStreamDestination();
    osc.connect(gain).connect(dest);
    osc.start();
    const track = dest.stream.getAudioTracks()[0];
    return { track, stop: () => ctx.close().catch(() => {}) };
  } catch {
    return null;
  }
}

// A moving test pattern with a clock, drawn on a detached canvas. Timers,
// not requestAnimationFrame, drive it: rAF stops in background tabs.
function syntheticVideo(label) {
  if (typeof document === "undefined") return null;
  const canvas = document.createElement("canvas");
  if (!canvas.captureStream) return null;
  canvas.width = SYNTH_W;
  canvas.height = SYNTH_H;
  const g = canvas.getContext("2d");
  if (!g) return null;
  const hue = ([...(label || "?")].reduce((h, c) => (h * 31 + c.codePointAt(0)) % 3600, 7) * 47) % 360;
  const start = performance.now();
  const draw = () => {
    const t = (performance.now() - start) / 1000;
    const bg = g.createLinearGradient(0, 0, SYNTH_W, SYNTH_H);
    bg.addColorStop(0, `hsl(${hue} 45% 18%)`);
    bg.addColorStop(1, `hsl(${(hue + 60) % 360} 45% 10%)`);
    g.fillStyle = bg;
    g.fillRect(0, 0, SYNTH_W, SYNTH_H);
    // Sweeping bars show motion at a glance.
    for (let i = 0; i < 6; i++) {
      const x = ((t * 90 + i * 120) % (SYNTH_W + 120)) - 120;
      g.fillStyle = `hsl(${(hue + i * 40) % 360} 70% 55% / 0.22)`;
      g.fillRect(x, 0, 60, SYNTH_H);
    }
    // Orbiting dot.
    g.fillStyle = `hsl(${hue} 85% 65%)`;
    g.beginPath();
    g.arc(SYNTH_W / 2 + Math.cos(t * 2) * 120, SYNTH_H / 2 + Math.sin(t * 2) * 60, 14, 0, 2 * Math.PI);
    g.fill();
    g.fillStyle = "#f8fafc";
    g.textAlign = "center";
    g.font = "600 56px system-ui, sans-serif";
    g.fillText(new Date().toLocaleTimeString([], { hour12: false }), SYNTH_W / 2, SYNTH_H / 2 + 20);
    g.font = "500 22px system-ui, sans-serif";
    g.fillStyle = "rgba(248,250,252,0.8)";
    g.fillText(label ? `${label} · test pattern` : "test pattern", SYNTH_W / 2, SYNTH_H / 2 + 80); // clear of the tile's badges
  };
  draw();
  const timer = setInterval(draw, 1000 / SYNTH_FPS);
  const track = canvas.captureStream(SYNTH_FPS).getVideoTracks()[0];
  return { track, stop: () => clearInterval(timer) };
}
