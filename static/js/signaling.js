// A WebSocket client for the signaling protocol (docs/signaling.md): JSON messages, sequence numbers,
// heartbeats, and reconnection with resume, so a dropped network loses nothing the server still holds.

const FINAL_CLOSE_CODES = new Set([4401, 4404, 4410]);

export class SignalingClient extends EventTarget {
  constructor(path) {
    super();
    this.path = path;
    this.lastSeq = 0;
    this.attempt = 0;
    this.stopped = false;
    this.ws = null;
    this.outbox = []; // messages said while the connection was down, sent once it is back
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}${this.path}`);
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.attempt = 0;
      if (this.lastSeq > 0) this.send({ type: "resume", last_seq: this.lastSeq });
      for (const message of this.outbox.splice(0)) this.send(message);
      this.heartbeat = setInterval(() => this.send({ type: "ping" }), 20000);
      this.emit("open");
    });
    ws.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (typeof message.seq === "number" && message.type !== "hello" && message.type !== "resync") {
        if (message.seq <= this.lastSeq) return; // already seen (replayed twice)
        this.lastSeq = message.seq;
      }
      if (message.type === "resync") this.lastSeq = message.seq;
      this.emit(message.type, message);
    });
    ws.addEventListener("close", (event) => {
      clearInterval(this.heartbeat);
      if (this.stopped || FINAL_CLOSE_CODES.has(event.code)) {
        this.emit("closed", { code: event.code });
        return;
      }
      this.attempt += 1;
      this.emit("reconnecting", { attempt: this.attempt });
      setTimeout(() => this.connect(), Math.min(500 * 2 ** this.attempt, 8000));
    });
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(message));
      return true;
    }
    if (!this.stopped && message.type !== "ping" && message.type !== "resume") this.outbox.push(message);
    return false;
  }

  stop() {
    this.stopped = true;
    if (this.ws) this.ws.close();
  }

  emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

export function on(client, type, handler) {
  client.addEventListener(type, (event) => handler(event.detail));
}

// WebRTC handlers are async; run them one after another in arrival order, so an ICE candidate never overtakes
// the description it belongs to.
let chain = Promise.resolve();
export function serially(handler) {
  return (detail) => {
    chain = chain.then(() => handler(detail)).catch((error) => console.warn("signaling handler failed", error));
  };
}

export function fingerprint(sdp) {
  const match = /a=fingerprint:\S+ (\S+)/.exec(sdp || "");
  return match ? match[1] : null;
}

export function strings() {
  const template = document.getElementById("i18n");
  return template ? template.dataset : {};
}

export function addChatLine(list, who, text, mine) {
  const item = document.createElement("li");
  item.className = mine ? "mine" : "theirs";
  const name = document.createElement("strong");
  name.textContent = who;
  const body = document.createElement("span");
  body.textContent = text;
  item.append(name, " ", body);
  list.append(item);
  list.scrollTop = list.scrollHeight;
}
