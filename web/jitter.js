// A jitter buffer for streamed 24 kHz speech, shared by the AudioWorklet and the ScriptProcessor
// paths. It resamples to the output rate (Safari runs at 48 kHz whatever is asked), starts after a
// small buffer, grows the buffer after an underrun, and skips ahead when it falls far behind live.

export const SOURCE_RATE = 24000;
const START_S = 0.15;
const MAX_TARGET_S = 1.0;
const SKIP_BEYOND_S = 1.5; // buffered past the target by this much: jump to live

// Linear resampling to SOURCE_RATE (Opus decoders may hand out 48 kHz).
function resample(samples, rate) {
  const out = new Float32Array(Math.floor((samples.length * SOURCE_RATE) / rate));
  const step = rate / SOURCE_RATE;
  for (let i = 0; i < out.length; i++) {
    const at = i * step;
    const j = Math.floor(at);
    const next = j + 1 < samples.length ? samples[j + 1] : samples[j];
    out[i] = samples[j] + (next - samples[j]) * (at - j);
  }
  return out;
}

export class JitterBuffer {
  constructor(outputRate) {
    this.step = SOURCE_RATE / outputRate; // source samples per output sample
    this.chunks = [];
    this.offset = 0; // fractional read position in chunks[0]
    this.buffered = 0; // source samples queued
    this.target = START_S;
    this.playing = false;
    this.lastUtterance = -1;
    this.dryUtterance = -1; // the utterance that was playing when the buffer ran dry
    this.stats = { playedSeconds: 0, underruns: 0, skips: 0, bufferedSeconds: 0, targetSeconds: START_S };
  }

  push(samples, utterance, rate = SOURCE_RATE) {
    if (rate !== SOURCE_RATE) samples = resample(samples, rate);
    if (!this.playing && utterance === this.dryUtterance) {
      // More of the same utterance after running dry: the network was late, not the speaker quiet.
      this.stats.underruns += 1;
      this.target = Math.min(MAX_TARGET_S, this.target * 1.5);
      this.stats.targetSeconds = this.target;
      this.dryUtterance = -1;
    }
    this.lastUtterance = utterance;
    this.chunks.push(samples);
    this.buffered += samples.length;
    const excess = this.buffered / SOURCE_RATE - this.target - SKIP_BEYOND_S;
    if (excess > 0) this.skip(this.buffered - Math.round(this.target * SOURCE_RATE));
  }

  skip(samples) {
    this.stats.skips += 1;
    while (samples > 0 && this.chunks.length) {
      const left = this.chunks[0].length - Math.floor(this.offset);
      if (left <= samples) {
        samples -= left; this.buffered -= left; this.chunks.shift(); this.offset = 0;
      } else {
        this.offset += samples; this.buffered -= samples; samples = 0;
      }
    }
  }

  clear() {
    this.chunks = []; this.offset = 0; this.buffered = 0; this.playing = false; this.dryUtterance = -1;
  }

  // Fill `out` (Float32Array at the output rate) with audio or silence.
  pull(out) {
    if (!this.playing && this.buffered / SOURCE_RATE >= this.target) this.playing = true;
    let i = 0;
    if (this.playing) {
      for (; i < out.length; i++) {
        const chunk = this.chunks[0];
        if (!chunk) break;
        const at = Math.floor(this.offset);
        const frac = this.offset - at;
        const next = at + 1 < chunk.length ? chunk[at + 1] : (this.chunks[1] ? this.chunks[1][0] : chunk[at]);
        out[i] = chunk[at] + (next - chunk[at]) * frac;
        this.offset += this.step;
        const whole = Math.floor(this.offset);
        if (whole >= chunk.length) {
          this.offset -= chunk.length; this.chunks.shift();
        }
      }
      const consumed = i * this.step;
      this.buffered = Math.max(0, this.buffered - consumed);
      this.stats.playedSeconds += consumed / SOURCE_RATE;
      if (i < out.length) {
        this.playing = false;
        this.dryUtterance = this.lastUtterance;
        this.buffered = 0; this.chunks = []; this.offset = 0;
      }
    }
    out.fill(0, i);
    this.stats.bufferedSeconds = this.buffered / SOURCE_RATE;
    this.stats.targetSeconds = this.target;
  }
}
