// A microphone level from 0 to 1, ten times a second, from a WebAudio
// analyser. Timers, not requestAnimationFrame: the level matters in
// background tabs too (the active speaker).

const INTERVAL = 100; // ms
const BLOCK = 512; // samples per block, about 10 ms

export class MicMeter {
  /** @param {(level: number) => void} onLevel */
  constructor(onLevel) {
    this.onLevel = onLevel;
    this._ctx = null;
    this._timer = null;
    this._source = null;
  }

  /** Measures stream's audio track; null stops. */
  watch(stream) {
    clearInterval(this._timer);
    this._timer = null;
    this._source?.disconnect();
    this._source = null;
    const track = stream?.getAudioTracks()[0];
    if (!track) {
      // A context renders on its own thread even with nothing to play:
      // close it until there is something to measure.
      this._ctx?.close().catch(() => {});
      this._ctx = null;
      this.onLevel(0);
      return;
    }
    const Ctx = globalThis.AudioContext || globalThis.webkitAudioContext;
    if (!Ctx) return;
    if (!this._ctx) {
      this._ctx = new Ctx();
      // A context made before any click starts suspended; the first
      // click or key press wakes it.
      const wake = () => this._ctx?.resume().catch(() => {});
      addEventListener("pointerdown", wake, { once: true });
      addEventListener("keydown", wake, { once: true });
    }
    const analyser = this._ctx.createAnalyser();
    // The window covers the whole interval (8192 samples: 170 ms at 48
    // kHz), read as blocks of ~10 ms: the loudest block is the level, so a
    // short sound between two reads is neither missed nor averaged away.
    analyser.fftSize = 8192;
    this._source = this._ctx.createMediaStreamSource(new MediaStream([track]));
    this._source.connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    this._timer = setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      let loudest = 0;
      for (let i = 0; i < samples.length; i += BLOCK) {
        let sum = 0;
        for (let j = i; j < i + BLOCK; j++) sum += samples[j] * samples[j];
        loudest = Math.max(loudest, sum / BLOCK);
      }
      // RMS on a rough log scale: speech at -30 dBFS reads about half.
      const db = 10 * Math.log10(loudest + 1e-10);
      this.onLevel(Math.min(1, Math.max(0, (db + 60) / 60)));
    }, INTERVAL);
  }
}
