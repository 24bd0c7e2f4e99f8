// The listener protocol (version 2): a WebSocket that reconnects with back-off, hello, captions,
// status, audience questions, and binary audio frames with a 12-byte header. Shared by the audience page and the overlay.

import { room as pageRoom, listenPath } from "./room.js";

export const HEADER_BYTES = 12;
const FLAG_END = 1;

export class Listener {
  constructor({ lang, audio, codec = "pcm", role = "audience", room = pageRoom, onHello, onCaption, onStatus, onAudio, onSkipped, onQuestion, onConnection }) {
    Object.assign(this, { lang, audio, codec, role, room, onHello, onCaption, onStatus, onAudio, onSkipped, onQuestion, onConnection });
    this.backoff = 500;
    this.closed = false;
    this.receivedBytes = 0; // what this listener cost the network (payloads), for the page to show
    this.audioBytes = 0; // of which audio frames
    this.connect();
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const url = `${scheme}://${location.host}${listenPath(this.lang, this.room)}?audio=${this.audio ? 1 : 0}&codec=${this.codec}&role=${this.role}`;
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.onConnection?.("connecting");
    ws.onmessage = ({ data }) => {
      this.receivedBytes += typeof data === "string" ? data.length : data.byteLength;
      if (typeof data !== "string") {
        this.audioBytes += data.byteLength;
        const view = new DataView(data);
        // Header: version, codec (0 PCM16, 1 Opus), flags (bit 0: the utterance's audio ends here),
        // utterance id, position (samples).
        const codec = view.getUint8(1) === 1 ? "opus" : "pcm";
        const end = (view.getUint16(2, true) & FLAG_END) !== 0;
        const utterance = view.getUint32(4, true);
        if (codec === "pcm" || end) {
          this.onAudio?.(new Uint8Array(data, HEADER_BYTES), utterance, codec, end);
          return;
        }
        // Opus: up to 100 ms of packets, each preceded by its length (uint16 LE).
        for (let offset = HEADER_BYTES; offset + 2 <= data.byteLength;) {
          const length = view.getUint16(offset, true);
          this.onAudio?.(new Uint8Array(data, offset + 2, length), utterance, codec, false);
          offset += 2 + length;
        }
        return;
      }
      const message = JSON.parse(data);
      if (message.type === "hello") {
        this.backoff = 500;
        this.onConnection?.("live");
        this.onHello?.(message);
      } else if (message.type === "caption") this.onCaption?.(message);
      else if (message.type === "status") this.onStatus?.(message);
      else if (message.type === "skipped") this.onSkipped?.(message.id);
      else if (message.type === "question") this.onQuestion?.(message);
      else if (message.type === "error") this.onStatus?.({ state: "error", detail: message.message });
    };
    ws.onclose = (event) => {
      if (this.closed || this.ws !== ws) return;
      if (event.code === 4404) { this.onConnection?.("gone", event.reason); return; }
      this.onConnection?.("reconnecting");
      const delay = this.backoff * (0.8 + Math.random() * 0.4);
      this.backoff = Math.min(this.backoff * 2, 10000);
      this.timer = setTimeout(() => this.connect(), delay);
    };
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    this.ws?.close(1000, "bye");
  }
}

// Captions by id: a partial updates its line in place, a final fixes it; the newest `limit` are kept.
// A caption with nothing to show yet (a sentence just begun) takes no place: in a one-line overlay
// it would push the last caption out and leave the stream blank until its first words.
export class CaptionBook {
  constructor(limit, shows = (c) => c.text || c.source_text) { this.limit = limit; this.shows = shows; this.byId = new Map(); }

  set(caption) {
    if (!this.byId.has(caption.id) && !this.shows(caption)) return;
    this.byId.set(caption.id, caption);
    while (this.byId.size > this.limit) this.byId.delete(this.byId.keys().next().value);
  }

  reset(captions) { this.byId.clear(); for (const c of captions) this.set(c); }

  list() { return [...this.byId.values()].sort((a, b) => a.id - b.id); }
}
