// A microphone whose audio goes to the server: the speaker page's, and a listener's spoken question.
// The browser's voice processing is off unless chosen (it damages speech for recognition). Audio
// is sent as Opus (WebCodecs, 64 kb/s) where the browser encodes it at 48 kHz, else as PCM16 at the
// sound card's rate; the server decodes, resamples and puts it on the talk's clock.
const OPUS = { codec: "opus", sampleRate: 48000, numberOfChannels: 1, bitrate: 64000 };

async function opusSupported() {
  if (!("AudioEncoder" in window)) return false;
  return (await AudioEncoder.isConfigSupported(OPUS).catch(() => ({ supported: false }))).supported;
}

// The microphone in an audio context at Opus's 48 kHz where the browser can encode Opus (it
// resamples the microphone); at the sound card's own rate otherwise, or where a browser cannot
// take a microphone into a context of another rate.
async function capturing(stream) {
  if (await opusSupported()) {
    const context = new AudioContext({ sampleRate: OPUS.sampleRate });
    try {
      return { context, input: context.createMediaStreamSource(stream) };
    } catch {
      context.close();
    }
  }
  const context = new AudioContext();
  return { context, input: context.createMediaStreamSource(stream) };
}

// Whether this page can take a microphone at all (a secure context: https, or the server's own machine).
export const canRecord = () => window.isSecureContext && Boolean(navigator.mediaDevices);

export class Microphone {
  // Opens the microphone (throws as getUserMedia does); `onLevel(dBFS)` hears every block.
  static async open({ deviceId = "", processing = false, onLevel = () => {}, onError = () => {} } = {}) {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: {
      deviceId: deviceId ? { exact: deviceId } : undefined,
      channelCount: 1, echoCancellation: processing, noiseSuppression: processing, autoGainControl: processing,
    } });
    const { context, input } = await capturing(stream);
    await context.audioWorklet.addModule("/static/capture-worklet.js");
    const node = new AudioWorkletNode(context, "capture");
    input.connect(node);
    // A node that reaches no destination is not pulled by every browser; its output is silence.
    node.connect(context.destination);
    const microphone = new Microphone(stream, context, node, onLevel);
    if (context.sampleRate === OPUS.sampleRate && (await opusSupported())) {
      microphone.encoder = new AudioEncoder({
        output: (chunk) => {
          const packet = new ArrayBuffer(chunk.byteLength);
          chunk.copyTo(packet);
          microphone.send?.(packet);
        },
        error: (e) => onError(e),
      });
      microphone.encoder.configure(OPUS);
    }
    return microphone;
  }

  constructor(stream, context, node, onLevel) {
    this.stream = stream;
    this.context = context;
    this.encoder = null;
    this.send = null; // where audio goes while it is sent: PCM16 or Opus packets (ArrayBuffers)
    this.samples = 0;
    node.port.onmessage = ({ data: { pcm, level } }) => {
      onLevel(level);
      if (this.send) this.deliver(pcm);
    };
  }

  // What the server is told in the first message: the rate and the format of the audio to come.
  get format() {
    return { sample_rate: this.context.sampleRate, format: this.encoder ? "opus" : "pcm16" };
  }

  deliver(pcm) {
    if (!this.encoder) {
      this.send(pcm);
      return;
    }
    const samples = new Int16Array(pcm);
    this.encoder.encode(new AudioData({
      format: "s16", sampleRate: OPUS.sampleRate, numberOfChannels: 1, numberOfFrames: samples.length,
      timestamp: Math.round(this.samples * 1e6 / OPUS.sampleRate), data: samples,
    }));
    this.samples += samples.length;
  }

  close() {
    this.send = null;
    if (this.encoder && this.encoder.state !== "closed") this.encoder.close();
    this.stream.getTracks().forEach((track) => track.stop());
    this.context.close();
  }
}
