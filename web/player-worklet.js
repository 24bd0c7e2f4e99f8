// AudioWorklet processor: the jitter buffer on the audio thread (secure contexts only).
import { JitterBuffer } from "./jitter.js";

class PlayerProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.buffer = new JitterBuffer(sampleRate, options.processorOptions?.maxLag);
    this.frames = 0;
    this.port.onmessage = ({ data }) => {
      if (data.type === "audio") this.buffer.push(data.samples, data.utterance, data.rate);
      else if (data.type === "end") this.buffer.end(data.utterance);
      else if (data.type === "clear") this.buffer.clear();
    };
  }

  process(inputs, outputs) {
    const channel = outputs[0][0];
    this.buffer.pull(channel);
    for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(channel);
    this.frames += channel.length;
    if (this.frames >= sampleRate / 8) {
      this.frames = 0;
      this.port.postMessage(this.buffer.stats);
    }
    return true;
  }
}

registerProcessor("player", PlayerProcessor);
