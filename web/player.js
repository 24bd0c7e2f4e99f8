// Translated-audio playback. AudioWorklet where the page is a secure context (https, localhost);
// ScriptProcessorNode elsewhere: a phone on http://192.168.x.y has no audioWorklet at all.
import { JitterBuffer, SOURCE_RATE } from "./jitter.js";

const OPUS_CONFIG = { codec: "opus", sampleRate: SOURCE_RATE, numberOfChannels: 1 };

// Opus where WebCodecs can decode it (secure contexts of current browsers), PCM16 elsewhere.
export async function preferredCodec() {
  if (!window.isSecureContext || typeof AudioDecoder === "undefined") return "pcm";
  try {
    return (await AudioDecoder.isConfigSupported(OPUS_CONFIG)).supported ? "opus" : "pcm";
  } catch (_) {
    return "pcm";
  }
}

export class Player {
  constructor() {
    this.context = null;
    this.node = null;
    this.gain = null;
    this.mode = "none";
    this.stats = { playedSeconds: 0, underruns: 0, skips: 0, bufferedSeconds: 0, targetSeconds: 0 };
  }

  // Must run inside a user gesture (autoplay rules).
  async start(volume) {
    if (this.context) { await this.resume(); return; }
    if (navigator.audioSession) navigator.audioSession.type = "playback"; // iOS: keep playing when locked
    const context = new AudioContext();
    this.context = context;
    this.gain = context.createGain();
    this.gain.gain.value = volume;
    this.gain.connect(context.destination);
    if (window.isSecureContext && context.audioWorklet) {
      await context.audioWorklet.addModule(new URL("./player-worklet.js", import.meta.url));
      this.node = new AudioWorkletNode(context, "player", { outputChannelCount: [1] });
      this.node.port.onmessage = ({ data }) => { this.stats = { ...data, mode: this.mode }; };
      this.mode = "audioworklet";
    } else {
      const buffer = new JitterBuffer(context.sampleRate);
      this.node = context.createScriptProcessor(2048, 0, 1);
      this.node.onaudioprocess = (event) => {
        buffer.pull(event.outputBuffer.getChannelData(0));
        this.stats = { ...buffer.stats, mode: this.mode };
      };
      this.fallback = buffer;
      this.mode = "scriptprocessor";
    }
    this.node.connect(this.gain);
    // iOS puts the context in "interrupted" after a call or screen lock: resume when allowed.
    context.onstatechange = () => { if (context.state !== "running") this.resume(); };
    document.addEventListener("visibilitychange", () => this.resume());
    await this.resume();
  }

  async resume() {
    if (this.context && this.context.state !== "running" && this.context.state !== "closed") {
      try { await this.context.resume(); } catch (_) { /* needs a gesture; the next tap retries */ }
    }
  }

  get running() { return !!this.context && this.context.state === "running"; }

  setVolume(volume) { if (this.gain) this.gain.gain.value = volume; }

  // One audio frame's payload: PCM16 bytes, or an Opus packet decoded through WebCodecs.
  push(payload, utterance, codec) {
    if (!this.node) return;
    if (codec === "opus") {
      this.decoder ??= this.createDecoder();
      // The timestamp only matches decoded audio back to its utterance.
      this.sequence += 1;
      this.decoding.set(this.sequence, utterance);
      this.decoder.decode(new EncodedAudioChunk({ type: "key", timestamp: this.sequence, data: payload }));
      return;
    }
    const pcm16 = new Int16Array(payload.buffer, payload.byteOffset, payload.byteLength / 2);
    const samples = new Float32Array(pcm16.length);
    for (let i = 0; i < pcm16.length; i++) samples[i] = pcm16[i] / 32768;
    this.enqueue(samples, utterance, SOURCE_RATE);
  }

  enqueue(samples, utterance, rate) {
    if (this.fallback) this.fallback.push(samples, utterance, rate);
    else this.node.port.postMessage({ type: "audio", samples, utterance, rate }, [samples.buffer]);
  }

  createDecoder() {
    this.decoding = new Map();
    this.sequence = 0;
    const decoder = new AudioDecoder({
      output: (data) => {
        const utterance = this.decoding.get(data.timestamp) ?? -1;
        this.decoding.delete(data.timestamp);
        const samples = new Float32Array(data.numberOfFrames);
        data.copyTo(samples, { planeIndex: 0, format: "f32-planar" });
        this.enqueue(samples, utterance, data.sampleRate);
        data.close();
      },
      error: () => { this.decoder = null; },
    });
    decoder.configure(OPUS_CONFIG);
    return decoder;
  }

  clear() {
    this.decoding?.clear();
    if (this.fallback) this.fallback.clear();
    else if (this.node) this.node.port.postMessage({ type: "clear" });
  }
}
