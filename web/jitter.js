// A jitter buffer for streamed 24 kHz speech, shared by the AudioWorklet and the ScriptProcessor
// paths. It resamples to the output rate (Safari runs at 48 kHz whatever is asked), starts after a
// small buffer, grows the buffer after an underrun, and skips ahead only when playback lags live.
//
// Translated speech arrives in bursts (synthesis is faster than real time): a whole sentence may
// land at once, and all of it is played. Lateness is measured on the wall clock: a chunk could have
// played at the moment its utterance began to arrive plus its position in the utterance; when the
// chunk about to play is later than that by more than `maxLag` (a tab in the background, a slow
// phone, a voice that speaks slower than the speaker), playback jumps to the start of the newest
// utterance, never into the middle of one.
//
// A listener who watches a stream that runs behind the room sets a `delay`: each utterance then
// plays that much later than it could have, with the pauses between utterances kept (an utterance
// waits for its time even when the one before has finished).

export const SOURCE_RATE = 24000;
const START_S = 0.15;
const MAX_TARGET_S = 1.0;
export const MAX_LAG_S = 5.0;
const KEEP_ENDED = 64;

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
  constructor(outputRate, maxLag = MAX_LAG_S) {
    this.step = SOURCE_RATE / outputRate; // source samples per output sample
    this.maxLag = maxLag;
    this.chunks = []; // { samples, utterance, due }: due = wall-clock second it could have played
    this.offset = 0; // fractional read position in chunks[0]
    this.buffered = 0; // source samples queued
    this.target = START_S;
    this.playing = false;
    this.delay = 0; // seconds every utterance is held back
    this.arrivals = new Map(); // utterance → { first: wall-clock s of its first chunk, samples }
    this.ended = new Set(); // utterances whose audio is complete
    this.lastUtterance = -1;
    this.dryUtterance = -1; // the utterance that was playing when the buffer ran dry
    this.stats = { playedSeconds: 0, receivedSeconds: 0, underruns: 0, skips: 0, skippedSeconds: 0,
                   bufferedSeconds: 0, targetSeconds: START_S, lagSeconds: 0 };
  }

  push(samples, utterance, rate = SOURCE_RATE, now = Date.now() / 1000) {
    if (rate !== SOURCE_RATE) samples = resample(samples, rate);
    if (!this.playing && utterance === this.dryUtterance) {
      // More of the same utterance after running dry: the network was late, not the speaker quiet.
      this.stats.underruns += 1;
      this.target = Math.min(MAX_TARGET_S, this.target * 1.5);
      this.dryUtterance = -1;
    }
    let arrival = this.arrivals.get(utterance);
    if (!arrival) {
      arrival = { first: now, samples: 0 };
      this.arrivals.set(utterance, arrival);
      if (this.arrivals.size > KEEP_ENDED) this.arrivals.delete(this.arrivals.keys().next().value);
    }
    this.chunks.push({ samples, utterance, due: arrival.first + this.delay + arrival.samples / SOURCE_RATE });
    arrival.samples += samples.length;
    this.lastUtterance = utterance;
    this.buffered += samples.length;
    this.stats.receivedSeconds += samples.length / SOURCE_RATE;
  }

  // The utterance's audio is complete: it may play out without waiting for the start threshold.
  end(utterance) {
    this.ended.add(utterance);
    if (this.ended.size > KEEP_ENDED) this.ended.delete(this.ended.values().next().value);
  }

  // Drop whole utterances up to the newest one's start when the audio about to play is too late.
  catchUp(now) {
    const head = this.chunks[0];
    if (!head) { this.stats.lagSeconds = 0; return; }
    const lag = now - head.due - this.offset / SOURCE_RATE;
    this.stats.lagSeconds = Math.max(0, lag);
    const newest = this.chunks[this.chunks.length - 1].utterance;
    if (lag <= this.maxLag || newest === head.utterance) return;
    let dropped = -this.offset;
    while (this.chunks[0].utterance !== newest) dropped += this.chunks.shift().samples.length;
    this.offset = 0;
    this.buffered -= dropped;
    this.stats.skips += 1;
    this.stats.skippedSeconds += dropped / SOURCE_RATE;
    this.stats.lagSeconds = Math.max(0, now - this.chunks[0].due);
  }

  clear() {
    this.chunks = []; this.offset = 0; this.buffered = 0; this.playing = false; this.dryUtterance = -1;
  }

  // Fill `out` (Float32Array at the output rate) with audio or silence.
  pull(out, now = Date.now() / 1000) {
    this.catchUp(now);
    const head = this.chunks[0];
    if (!this.playing && head && head.due <= now
        && (this.buffered / SOURCE_RATE >= this.target || this.ended.has(head.utterance))) {
      this.playing = true;
    }
    let i = 0;
    let held = false; // the next utterance is not due yet: silence until it is
    if (this.playing) {
      for (; i < out.length; i++) {
        const chunk = this.chunks[0]?.samples;
        if (!chunk) break;
        const at = Math.floor(this.offset);
        const frac = this.offset - at;
        const next = at + 1 < chunk.length ? chunk[at + 1] : (this.chunks[1] ? this.chunks[1].samples[0] : chunk[at]);
        out[i] = chunk[at] + (next - chunk[at]) * frac;
        this.offset += this.step;
        if (Math.floor(this.offset) >= chunk.length) {
          this.offset -= chunk.length;
          const done = this.chunks.shift();
          const next = this.chunks[0];
          if (next && next.utterance !== done.utterance && next.due > now + ((i + 1) * this.step) / SOURCE_RATE) {
            this.offset = 0; this.playing = false; held = true; i++;
            break;
          }
        }
      }
      const consumed = i * this.step;
      this.buffered = Math.max(0, this.buffered - consumed);
      this.stats.playedSeconds += consumed / SOURCE_RATE;
      if (i < out.length && !held) {
        this.playing = false;
        // Dry at an utterance's end is the speaker pausing; dry in its middle is the network.
        this.dryUtterance = this.ended.has(this.lastUtterance) ? -1 : this.lastUtterance;
        this.buffered = 0; this.chunks = []; this.offset = 0;
      }
    }
    out.fill(0, i);
    this.stats.bufferedSeconds = this.buffered / SOURCE_RATE;
    this.stats.targetSeconds = this.target;
  }
}

// The interpreter's receiver: the interpretation and, under it, the original (the floor), each in
// a jitter buffer of its own. `balance` goes from the interpretation only (0) to the original only
// (1) at constant power; with `ducking`, the original is lowered while the interpretation speaks and
// comes back up in its pauses, as an interpreter's booth does. The interpretation is never delayed.
const DUCK_GAIN = 0.25; // −12 dB
const DUCK_ATTACK_S = 0.05;
const DUCK_RELEASE_S = 0.6;
const SPEAKING_RMS = 0.003; // quieter than this the interpretation is in a pause

export function gains(balance) {
  const b = Math.min(1, Math.max(0, balance));
  return [b >= 1 ? 0 : Math.cos((b * Math.PI) / 2), b <= 0 ? 0 : Math.sin((b * Math.PI) / 2)];
}

export class Mixer {
  constructor(outputRate, maxLag = MAX_LAG_S) {
    this.main = new JitterBuffer(outputRate, maxLag);
    this.floor = new JitterBuffer(outputRate, maxLag);
    this.balance = 0;
    this.ducking = true;
    this.duck = 1; // the original's ducking gain now
    this.attack = Math.exp(-1 / (DUCK_ATTACK_S * outputRate));
    this.release = Math.exp(-1 / (DUCK_RELEASE_S * outputRate));
    this.scratch = new Float32Array(128);
    this.levels = { interpretation: 0, original: 0, duck: 1 };
  }

  buffer(stream) { return stream === "floor" ? this.floor : this.main; }

  set({ balance, ducking, delay }) {
    if (balance !== undefined) this.balance = balance;
    if (ducking !== undefined) this.ducking = ducking;
    if (delay !== undefined) this.main.delay = this.floor.delay = delay;
    if (this.balance <= 0) this.floor.clear(); // not heard: nothing of it waits to play later
  }

  get stats() {
    return { ...this.main.stats, originalPlayedSeconds: this.floor.stats.playedSeconds,
             originalLagSeconds: this.floor.stats.lagSeconds, levels: { ...this.levels } };
  }

  clear() { this.main.clear(); this.floor.clear(); }

  pull(out, now = Date.now() / 1000) {
    this.main.pull(out, now);
    const [interpretation, original] = gains(this.balance);
    let speech = 0;
    for (let i = 0; i < out.length; i++) speech += out[i] * out[i];
    const speaking = Math.sqrt(speech / Math.max(1, out.length)) > SPEAKING_RMS;
    if (original <= 0) {
      if (interpretation !== 1) for (let i = 0; i < out.length; i++) out[i] *= interpretation;
      this.levels = { interpretation: interpretation * Math.sqrt(speech / out.length), original: 0, duck: this.duck };
      return;
    }
    if (this.scratch.length !== out.length) this.scratch = new Float32Array(out.length);
    const floor = this.scratch;
    this.floor.pull(floor, now);
    const target = this.ducking && speaking && interpretation > 0 ? DUCK_GAIN : 1;
    const smoothing = target < this.duck ? this.attack : this.release;
    let mainEnergy = 0, floorEnergy = 0;
    for (let i = 0; i < out.length; i++) {
      this.duck = target + (this.duck - target) * smoothing;
      const a = out[i] * interpretation;
      const b = floor[i] * original * this.duck;
      mainEnergy += a * a; floorEnergy += b * b;
      out[i] = a + b;
    }
    this.levels = { interpretation: Math.sqrt(mainEnergy / out.length), original: Math.sqrt(floorEnergy / out.length),
                    duck: this.duck };
  }
}
