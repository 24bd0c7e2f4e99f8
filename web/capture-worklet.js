// AudioWorklet processor of the speaker page: the microphone's first channel as PCM16 chunks of
// about 40 ms (under the server's 4096-byte message bound at every rate), each with its level.
const CHUNK_S = 0.04;

class CaptureProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.size = Math.min(2048, Math.round(sampleRate * CHUNK_S));
    this.chunk = new Int16Array(this.size);
    this.filled = 0;
    this.energy = 0;
  }

  process(inputs) {
    const samples = inputs[0][0];
    if (!samples) return true;
    for (let i = 0; i < samples.length; i++) {
      const s = Math.max(-1, Math.min(1, samples[i]));
      this.energy += s * s;
      this.chunk[this.filled++] = s < 0 ? s * 0x8000 : s * 0x7fff;
      if (this.filled === this.size) {
        const level = 10 * Math.log10(this.energy / this.filled + 1e-10);
        this.port.postMessage({ pcm: this.chunk.buffer, level }, [this.chunk.buffer]);
        this.chunk = new Int16Array(this.size); // the last one's buffer went with it
        this.filled = 0;
        this.energy = 0;
      }
    }
    return true;
  }
}

registerProcessor("capture", CaptureProcessor);
