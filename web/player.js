// Playback of the chosen channel, and of the original under it when the listener mixes it in.
// AudioWorklet where the page is a secure context (https, localhost); ScriptProcessorNode elsewhere:
// a phone on http://192.168.x.y has no audioWorklet at all. Both run the same mixer (jitter.js).
import { MAX_LAG_S, Mixer, SOURCE_RATE } from "./jitter.js";

const OPUS_CONFIG = { codec: "opus", sampleRate: SOURCE_RATE, numberOfChannels: 1 };

const WASM_DECODER = "/static/vendor/opus-decoder.min.js";
let wasmOpus = null; // the WebAssembly decoder's class, once loaded

// Whether WebCodecs decodes Opus here (secure contexts of current browsers).
async function webCodecsOpus() {
  if (!window.isSecureContext || typeof AudioDecoder === "undefined") return false;
  try {
    return (await AudioDecoder.isConfigSupported(OPUS_CONFIG)).supported;
  } catch (_) {
    return false;
  }
}

// The WebAssembly Opus decoder (opus-decoder, served by the app), for pages without WebCodecs:
// an insecure origin (http://192.168.x.y on the venue network), an older browser.
async function loadWasmOpus() {
  if (typeof WebAssembly === "undefined") return null;
  if (!globalThis["opus-decoder"]) {
    await new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = WASM_DECODER;
      script.onload = resolve;
      script.onerror = reject;
      document.head.append(script);
    });
  }
  const { OpusDecoder } = globalThis["opus-decoder"];
  const probe = new OpusDecoder({ channels: 1, sampleRate: SOURCE_RATE });
  await probe.ready; // compiles: refused where WebAssembly may not be compiled
  probe.free();
  return OpusDecoder;
}

// Opus (24 kb/s) wherever a decoder works: WebCodecs, else WebAssembly; PCM16 (384 kb/s) only where
// neither does, or when asked for (`?codec=pcm`). Returns [codec, decoder].
export async function preferredCodec(asked = null) {
  if (asked === "pcm") return ["pcm", "none"];
  if (await webCodecsOpus()) return ["opus", "webcodecs"];
  try {
    wasmOpus = await loadWasmOpus();
  } catch (_) {
    wasmOpus = null;
  }
  return wasmOpus ? ["opus", "wasm"] : ["pcm", "none"];
}

export class Player {
  constructor() {
    this.context = null;
    this.node = null;
    this.gain = null;
    this.mode = "none";
    this.sentSeconds = 0;
    this.mix = { balance: 0, ducking: true };
    this.decoding = { main: null, floor: null }; // each stream's current Opus stream (one per utterance)
    this.order = { main: Promise.resolve(), floor: Promise.resolve() }; // WebAssembly decoding, in order
    this.stats = { playedSeconds: 0, underruns: 0, skips: 0, bufferedSeconds: 0, targetSeconds: 0 };
  }

  // Must run inside a user gesture (autoplay rules). `maxLag`: seconds behind live before skipping.
  async start(volume, maxLag = MAX_LAG_S) {
    this.stopped = false;
    if (this.context) { await this.resume(); return; }
    if (navigator.audioSession) navigator.audioSession.type = "playback"; // iOS: keep playing when locked
    const context = new AudioContext();
    this.context = context;
    this.gain = context.createGain();
    this.gain.gain.value = volume;
    this.gain.connect(context.destination);
    // What the listener hears, as it leaves the page: read by `spectrum` (and tests).
    this.analyser = context.createAnalyser();
    this.analyser.fftSize = 8192;
    this.analyser.smoothingTimeConstant = 0;
    this.gain.connect(this.analyser);
    if (window.isSecureContext && context.audioWorklet) {
      await context.audioWorklet.addModule(new URL("./player-worklet.js", import.meta.url));
      this.node = new AudioWorkletNode(context, "player", { outputChannelCount: [1], processorOptions: { maxLag } });
      this.node.port.onmessage = ({ data }) => { this.stats = { ...data, mode: this.mode, sentSeconds: this.sentSeconds }; };
      this.node.port.postMessage({ type: "mix", ...this.mix });
      this.mode = "audioworklet";
    } else {
      const mixer = new Mixer(context.sampleRate, maxLag);
      mixer.set(this.mix);
      this.node = context.createScriptProcessor(2048, 0, 1);
      this.node.onaudioprocess = (event) => {
        mixer.pull(event.outputBuffer.getChannelData(0));
        this.stats = { ...mixer.stats, mode: this.mode, sentSeconds: this.sentSeconds };
      };
      this.fallback = mixer;
      this.mode = "scriptprocessor";
    }
    this.node.connect(this.gain);
    // iOS puts the context in "interrupted" after a call or screen lock: resume when allowed.
    context.onstatechange = () => { if (context.state !== "running") this.resume(); };
    document.addEventListener("visibilitychange", () => this.resume());
    await this.resume();
  }

  // The listener stopped: nothing plays, what was buffered goes, and nothing resumes on its own.
  async stop() {
    this.stopped = true;
    this.clear();
    this.clear("floor");
    if (this.context) await this.context.suspend();
  }

  async resume() {
    if (this.stopped) return;
    if (this.context && this.context.state !== "running" && this.context.state !== "closed") {
      try { await this.context.resume(); } catch (_) { /* needs a gesture; the next tap retries */ }
    }
  }

  get running() { return !!this.context && this.context.state === "running"; }

  setVolume(volume) { if (this.gain) this.gain.gain.value = volume; }

  // The original under the interpretation: `balance` 0 (interpretation only) … 1 (original only);
  // `ducking` lowers the original while the interpretation speaks.
  setMix(mix) {
    Object.assign(this.mix, mix);
    if (this.fallback) this.fallback.set(this.mix);
    else if (this.node) this.node.port.postMessage({ type: "mix", ...this.mix });
  }

  // The output's level (dB) at each of `hz`: what leaves the page, as an analyser hears it.
  spectrum(hz) {
    if (!this.analyser) return hz.map(() => -Infinity);
    const bins = new Float32Array(this.analyser.frequencyBinCount);
    this.analyser.getFloatFrequencyData(bins);
    const width = this.context.sampleRate / this.analyser.fftSize;
    return hz.map((f) => Math.max(...[-1, 0, 1].map((d) => bins[Math.round(f / width) + d])));
  }

  // One audio frame of `stream` ("main": the chosen channel; "floor": the original under it): PCM16
  // bytes, or an Opus packet decoded through WebCodecs; `end` marks the utterance's last frame (its
  // payload is empty).
  push(payload, utterance, codec, end, stream = "main") {
    if (!this.node) return;
    // What the server sent, to compare with what was played.
    if (stream === "main") {
      this.sentSeconds += codec === "opus" ? (payload.byteLength ? 0.02 : 0) : payload.byteLength / 2 / SOURCE_RATE;
    }
    if (codec === "opus") { this.pushOpus(payload, utterance, end, stream); return; }
    if (payload.byteLength) {
      const pcm16 = new Int16Array(payload.buffer, payload.byteOffset, payload.byteLength / 2);
      const samples = new Float32Array(pcm16.length);
      for (let i = 0; i < pcm16.length; i++) samples[i] = pcm16[i] / 32768;
      this.enqueue(samples, utterance, SOURCE_RATE, stream);
    }
    if (end) this.post({ type: "end", utterance, stream });
  }

  enqueue(samples, utterance, rate, stream) {
    if (this.fallback) this.fallback.buffer(stream).push(samples, utterance, rate);
    else this.node.port.postMessage({ type: "audio", samples, utterance, rate, stream }, [samples.buffer]);
  }

  post(message) {
    if (this.fallback) this.fallback.buffer(message.stream).end(message.utterance);
    else this.node.port.postMessage(message);
  }

  // Each utterance is an Opus stream of its own, decoded by a decoder of its own: everything a
  // decoder outputs belongs to its utterance (decoders do not carry input timestamps through).
  // A stream's output is held until the stream before it has been flushed, so that order is kept.
  pushOpus(payload, utterance, end, source) {
    if (wasmOpus) { this.pushWasm(payload, utterance, end, source); return; }
    let stream = this.decoding[source];
    if (!stream || stream.utterance !== utterance) stream = this.decoding[source] = this.openStream(utterance, source);
    if (payload.byteLength) {
      stream.decoder.decode(new EncodedAudioChunk({ type: "key", timestamp: stream.time, data: payload }));
      stream.time += 20000;
    }
    if (end) this.finishStream(stream).then(() => this.release(stream, true));
  }

  openStream(utterance, source) {
    const previous = this.decoding[source];
    const stream = { utterance, source, time: 0, held: [], released: !previous, ended: false };
    stream.decoder = new AudioDecoder({
      output: (data) => {
        const samples = new Float32Array(data.numberOfFrames);
        data.copyTo(samples, { planeIndex: 0, format: "f32-planar" });
        if (stream.released) this.enqueue(samples, utterance, data.sampleRate, source);
        else stream.held.push([samples, data.sampleRate]);
        data.close();
      },
      error: () => {},
    });
    stream.decoder.configure(OPUS_CONFIG);
    if (previous) this.finishStream(previous).then(() => this.release(stream, false));
    return stream;
  }

  finishStream(stream) {
    stream.finished ??= stream.decoder.flush().catch(() => {}).then(() => {
      if (stream.decoder.state !== "closed") stream.decoder.close();
    });
    return stream.finished;
  }

  release(stream, ended) {
    stream.ended ||= ended;
    if (!stream.released && !ended) {
      stream.released = true;
      for (const [samples, rate] of stream.held) this.enqueue(samples, stream.utterance, rate, stream.source);
      stream.held = [];
    }
    if (stream.released && stream.ended && !stream.endPosted) {
      stream.endPosted = true;
      this.post({ type: "end", utterance: stream.utterance, stream: stream.source });
    }
  }

  // The WebAssembly decoder: synchronous, one decoder per utterance (each its own Opus stream),
  // each source's packets decoded in order behind one promise (a decoder is ready asynchronously).
  pushWasm(payload, utterance, end, source) {
    let stream = this.decoding[source];
    if (!stream || stream.utterance !== utterance) {
      if (stream) this.retire(stream, source);
      stream = this.decoding[source] = { utterance, decoder: new wasmOpus({ channels: 1, sampleRate: SOURCE_RATE }) };
    }
    const { decoder } = stream;
    this.order[source] = this.order[source].then(() => decoder.ready).then(() => {
      if (payload.byteLength) {
        const { channelData, samplesDecoded } = decoder.decodeFrame(payload);
        if (samplesDecoded) this.enqueue(channelData[0].slice(0, samplesDecoded), utterance, SOURCE_RATE, source);
      }
      if (end) this.post({ type: "end", utterance, stream: source });
    }).catch(() => {});
    if (end) { this.retire(stream, source); this.decoding[source] = null; }
  }

  // A WebAssembly decoder's memory is freed once what was queued for it is decoded.
  retire(stream, source) {
    if (stream.retired) return;
    stream.retired = true;
    this.order[source] = this.order[source].then(() => stream.decoder.free()).catch(() => {});
  }

  clear(source = "main") {
    if (wasmOpus && this.decoding[source]) this.retire(this.decoding[source], source);
    else if (this.decoding[source]) this.finishStream(this.decoding[source]);
    this.decoding[source] = null;
    if (this.fallback) this.fallback.buffer(source).clear();
    else if (this.node) this.node.port.postMessage({ type: "clear", stream: source });
  }
}
