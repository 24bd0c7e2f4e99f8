// AudioWorklet processor: the mixer and its jitter buffers on the audio thread (secure contexts only).
import { Mixer } from "./jitter.js";

class PlayerProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.mixer = new Mixer(sampleRate, options.processorOptions?.maxLag);
    this.frames = 0;
    this.port.onmessage = ({ data }) => {
      if (data.type === "audio") this.mixer.buffer(data.stream).push(data.samples, data.utterance, data.rate);
      else if (data.type === "end") this.mixer.buffer(data.stream).end(data.utterance);
      else if (data.type === "clear") this.mixer.buffer(data.stream).clear();
      else if (data.type === "mix") this.mixer.set(data);
    };
  }

  process(inputs, outputs) {
    const channel = outputs[0][0];
    this.mixer.pull(channel);
    for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(channel);
    this.frames += channel.length;
    if (this.frames >= sampleRate / 8) {
      this.frames = 0;
      this.port.postMessage(this.mixer.stats);
    }
    return true;
  }
}

registerProcessor("player", PlayerProcessor);
