// The speaker page: the speaker's microphone becomes the room's input (audio.input = "publish").
// The browser's voice processing is off unless chosen (it damages speech for recognition). Audio
// goes to /ws/publish/{room} as Opus (WebCodecs, 64 kb/s) where the browser encodes it at 48 kHz,
// else as PCM16 at the sound card's rate; the server decodes, resamples and puts it on the talk's
// clock. A dropped connection reconnects with back-off; what the microphone hears
// meanwhile is not kept (the room hears silence, not a burst of old speech). The key comes from the
// form or the URL's fragment (speak#key=…, never sent to the server), kept in this tab only.
import { Listener } from "./listener.js";
import { api, room } from "./room.js";

const $ = (id) => document.getElementById(id);
const KEY = `publish-key:${room || ""}`;
// Close codes after which trying again cannot help: the speaker must act.
// (4409: someone else publishes, or the room takes no published input; the server says which.)
const FINAL = new Map([[4401, "That publishing key was not accepted."], [4403, "The publishing key was changed: ask the operator for the new one."],
  [4409, ""], [4429, "Too many wrong keys from this address: wait a minute."]]);
const MAX_BACKLOG_BYTES = 64 * 1024; // about 0.7 s of PCM at 48 kHz: beyond it the network cannot keep up
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

// Opus when this browser can encode it at the page's rate (WebCodecs), else null: PCM is sent.
async function opusEncoder(rate, send) {
  if (rate !== OPUS.sampleRate || !(await opusSupported())) return null;
  const encoder = new AudioEncoder({
    output: (chunk) => {
      const packet = new ArrayBuffer(chunk.byteLength);
      chunk.copyTo(packet);
      send(packet);
    },
    error: (e) => error(`The audio encoder failed: ${e.message}`),
  });
  encoder.configure(OPUS);
  return encoder;
}

const fragment = new URLSearchParams(location.hash.slice(1)).get("key");
if (fragment) {
  sessionStorage.setItem(KEY, fragment);
  history.replaceState(null, "", location.pathname);
}
$("key").value = sessionStorage.getItem(KEY) || "";

let session = null; // { stream, context, node, socket, stopped, backoff, timer, dropped }

function show(state, words) {
  $("live").textContent = words;
  $("live").className = `badge state-${state}`;
}

function error(words) {
  $("error").textContent = words || "";
  $("error").hidden = !words;
}

async function microphones() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  const select = $("microphone");
  const chosen = select.value;
  select.replaceChildren(new Option("The default microphone", ""),
    ...devices.filter((d) => d.kind === "audioinput" && d.deviceId && d.deviceId !== "default")
      .map((d, i) => new Option(d.label || `Microphone ${i + 1}`, d.deviceId)));
  select.value = chosen;
}

async function start(event) {
  event.preventDefault();
  error("");
  const key = $("key").value.trim();
  sessionStorage.setItem(KEY, key);
  const processing = $("processing").checked;
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: {
      deviceId: $("microphone").value ? { exact: $("microphone").value } : undefined,
      channelCount: 1, echoCancellation: processing, noiseSuppression: processing, autoGainControl: processing,
    } });
  } catch (e) {
    error(`The microphone could not be opened: ${e.message}`);
    return;
  }
  await microphones();
  const { context, input } = await capturing(stream);
  await context.audioWorklet.addModule("/static/capture-worklet.js");
  const node = new AudioWorkletNode(context, "capture");
  input.connect(node);
  // A node that reaches no destination is not pulled by every browser; its output is silence.
  node.connect(context.destination);
  session = { key, stream, context, node, socket: null, stopped: false, backoff: 500, timer: 0, dropped: 0, samples: 0 };
  const current = session;
  session.opus = await opusEncoder(context.sampleRate, (packet) => send(current, packet));
  node.port.onmessage = ({ data }) => capture(session, data);
  $("go").hidden = true;
  $("stop").hidden = false;
  connect(session);
}

function capture(current, { pcm, level }) {
  $("level").value = Math.max(-60, level);
  $("level-db").textContent = `${Math.round(level)} dBFS`;
  if (!current.publishing) return;
  if (!current.opus) {
    send(current, pcm);
    return;
  }
  const samples = new Int16Array(pcm);
  current.opus.encode(new AudioData({
    format: "s16", sampleRate: OPUS.sampleRate, numberOfChannels: 1, numberOfFrames: samples.length,
    timestamp: Math.round(current.samples * 1e6 / OPUS.sampleRate), data: samples,
  }));
  current.samples += samples.length;
}

function send(current, data) {
  const socket = current.socket;
  if (!socket || socket.readyState !== WebSocket.OPEN || !current.publishing) return;
  if (socket.bufferedAmount > MAX_BACKLOG_BYTES) {
    current.dropped += 1;
    show("reconnecting", "Live · the network is too slow: audio is being lost");
    return;
  }
  socket.send(data);
}

function connect(current) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const path = room ? `/ws/publish/${encodeURIComponent(room)}` : "/ws/publish";
  const socket = new WebSocket(`${scheme}://${location.host}${path}`);
  socket.binaryType = "arraybuffer";
  current.socket = socket;
  current.publishing = false;
  show("reconnecting", "Connecting…");
  socket.onopen = () => socket.send(JSON.stringify({
    type: "publish", key: current.key, who: "speaker page", sample_rate: current.context.sampleRate,
    format: current.opus ? "opus" : "pcm16",
  }));
  socket.onmessage = ({ data }) => {
    if (typeof data !== "string") return;
    if (JSON.parse(data).type === "publishing") {
      current.publishing = true;
      current.backoff = 500;
      show("live", "● Live");
    }
  };
  socket.onclose = ({ code, reason }) => {
    if (current.stopped || current.socket !== socket) return;
    current.publishing = false;
    if (FINAL.has(code)) {
      stop();
      error(FINAL.get(code) || reason);
      return;
    }
    show("reconnecting", `Reconnecting…${reason ? ` (${reason})` : ""}`);
    const delay = current.backoff * (0.8 + Math.random() * 0.4);
    current.backoff = Math.min(current.backoff * 2, 5000);
    current.timer = setTimeout(() => connect(current), delay);
  };
}

function stop() {
  if (!session) return;
  session.stopped = true;
  clearTimeout(session.timer);
  session.socket?.close(1000, "the speaker stopped");
  if (session.opus && session.opus.state !== "closed") session.opus.close();
  session.stream.getTracks().forEach((track) => track.stop());
  session.context.close();
  session = null;
  $("go").hidden = false;
  $("stop").hidden = true;
  $("level").value = -60;
  $("level-db").textContent = "–";
  show("", "Not live");
}

// The room as the audience sees it: its languages' states, the listeners, the caption lag, and the
// latest caption of one language (followed as an overlay: not counted as a listener).
let follower = null;

function follow(lang) {
  follower?.close();
  $("caption").textContent = "";
  follower = lang && new Listener({
    lang, audio: false, role: "overlay", onCaption: (caption) => { $("caption").textContent = caption.text; },
  });
}

async function refresh() {
  try {
    const response = await fetch(api("/languages"));
    if (!response.ok) return;
    const body = await response.json();
    $("room-name").textContent = `Speaker · ${body.room.name}`;
    const targets = body.targets;
    $("listeners").textContent = targets.reduce((sum, l) => sum + l.listeners, body.floor.listeners);
    const lags = targets.map((l) => l.lag_s).filter((lag) => lag !== null);
    $("lag").textContent = lags.length ? `${Math.max(...lags).toFixed(1)} s` : "–";
    $("languages").replaceChildren(...targets.map((l) => {
      const item = document.createElement("li");
      item.className = `state-${l.state}`;
      item.textContent = `${l.native} · ${l.state}`;
      return item;
    }));
    const select = $("follow");
    if (select.options.length !== targets.length) {
      const chosen = select.value;
      select.replaceChildren(...targets.map((l) => new Option(l.native, l.code)));
      select.value = targets.some((l) => l.code === chosen) ? chosen : targets[0]?.code || "";
      follow(select.value);
    }
  } catch {
    // The server is restarting: the next refresh tells.
  }
}

if (!window.isSecureContext || !navigator.mediaDevices) {
  $("insecure").hidden = false;
  $("go").disabled = true;
} else {
  microphones();
}
$("start").addEventListener("submit", start);
$("stop").addEventListener("click", stop);
$("follow").addEventListener("change", () => follow($("follow").value));
refresh();
setInterval(refresh, 2000);
