// Recording a support session in the agent's browser: MediaRecorder (WebM) on the customer's screen as the viewer
// shows it, uploaded in chunks while it records (PUT /api/v1/recordings/{id}/chunks/{n}, each with its SHA-256), so
// a closed tab loses at most the last few seconds. Stopping completes the recording with the whole file's SHA-256,
// which the server checks against the chunks it assembled.
import { sha256 } from "../vendor/js-sha256/sha256.min.mjs";

const SLICE_MS = 3000;
const RETRIES = 5;

function csrf() {
  const field = document.querySelector("[name=csrfmiddlewaretoken]");
  return field ? field.value : "";
}

async function api(method, url, body, headers = {}) {
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: { "X-CSRFToken": csrf(), ...headers },
    body,
  });
  let answer = null;
  try {
    answer = await response.json();
  } catch {
    /* no body */
  }
  if (!response.ok) {
    const error = new Error((answer && answer.error && answer.error.message) || response.statusText);
    error.status = response.status;
    error.code = answer && answer.error && answer.error.code;
    throw error;
  }
  return answer;
}

function hex(buffer) {
  return [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class SessionRecorder {
  constructor(section, video) {
    this.section = section;
    this.video = video;
    this.button = section.querySelector("#record");
    this.badge = section.querySelector("#rec-badge");
    this.status = section.querySelector("#rec-status");
    this.text = section.dataset;
    this.recorder = null;
    this.queue = Promise.resolve();
    this.index = 0;
    this.whole = null;
    this.button.addEventListener("click", () => (this.recorder ? this.stop() : this.start()));
    this.refresh();
  }

  refresh() {
    const recording = Boolean(this.recorder);
    const screen = this.video.srcObject && this.video.srcObject.getVideoTracks().length;
    if (this.text.mandatory && screen && !recording && !this.started) {
      this.started = true; // the organization records every session: start with the first picture, once
      this.start();
      return;
    }
    if (this.text.mandatory) {
      this.button.hidden = true; // a mandatory recording runs until the session ends
      this.badge.hidden = !recording;
      return;
    }
    this.button.textContent = recording ? this.text.stop : this.text.start;
    this.button.disabled = !recording && !(this.video.srcObject && this.video.srcObject.getVideoTracks().length);
    this.badge.hidden = !recording;
  }

  say(text) {
    this.status.textContent = text;
  }

  async start() {
    const stream = this.video.srcObject;
    if (!stream) return;
    this.button.disabled = true;
    try {
      this.recording = await api("POST", this.section.dataset.startUrl, null);
    } catch (error) {
      this.say(error.message);
      this.refresh();
      return;
    }
    this.index = 0;
    this.whole = sha256.create();
    this.failed = null;
    const type = ["video/webm;codecs=vp9", "video/webm;codecs=vp8", "video/webm"].find((t) =>
      MediaRecorder.isTypeSupported(t),
    );
    this.recorder = new MediaRecorder(stream, type ? { mimeType: type } : {});
    this.recorder.addEventListener("dataavailable", (event) => {
      if (event.data && event.data.size) this.enqueue(event.data);
    });
    this.recorder.addEventListener("stop", () => this.finish());
    this.recorder.start(SLICE_MS);
    this.say(this.text.recording);
    this.refresh();
    this.section.dispatchEvent(new CustomEvent("recording", { detail: { state: "started" } }));
  }

  stop() {
    if (this.recorder && this.recorder.state !== "inactive") this.recorder.stop();
  }

  // Stop, and resolve once the last chunk is up and the recording completed (before the page goes away).
  stopAndWait() {
    if (!this.recorder) return Promise.resolve();
    const done = new Promise((resolve) => this.section.addEventListener("recording", resolve, { once: true }));
    this.stop();
    return done;
  }

  // Chunks go up one after another, in order; each is retried with backoff before the recording is given up.
  enqueue(blob) {
    const index = this.index++;
    this.queue = this.queue.then(() => this.upload(index, blob));
  }

  async upload(index, blob) {
    if (this.failed) return;
    const bytes = await blob.arrayBuffer();
    this.whole.update(bytes);
    const digest = hex(await crypto.subtle.digest("SHA-256", bytes));
    const url = `${this.section.dataset.apiBase}/${this.recording.id}/chunks/${index}`;
    for (let attempt = 0; ; attempt += 1) {
      try {
        await api("PUT", url, bytes, { "Content-Type": "application/octet-stream", "X-Chunk-SHA256": digest });
        this.uploaded = index + 1;
        this.say(this.text.uploaded.replace("{count}", String(this.uploaded)));
        return;
      } catch (error) {
        const final = error.status && error.status < 500 && error.status !== 429;
        if (final || attempt >= RETRIES) {
          this.failed = error;
          this.say(error.message);
          this.stop();
          return;
        }
        await sleep(500 * 2 ** attempt);
      }
    }
  }

  async finish() {
    await this.queue;
    const recorded = this.recording;
    this.recorder = null;
    this.refresh();
    if (this.failed || !recorded) {
      this.section.dispatchEvent(new CustomEvent("recording", { detail: { state: "stopped" } }));
      return;
    }
    try {
      const done = await api(
        "POST",
        `${this.section.dataset.apiBase}/${recorded.id}/complete`,
        JSON.stringify({ chunk_count: this.index, sha256: this.whole.hex() }),
        { "Content-Type": "application/json" },
      );
      this.say(this.text.saved.replace("{size}", `${Math.max(1, Math.round(done.size_bytes / 1024))} KB`));
      const link = document.createElement("a");
      link.href = this.section.dataset.playbackBase.replace("REC", recorded.id);
      link.textContent = this.text.play;
      link.className = "rec-play";
      this.status.append(" ", link);
    } catch (error) {
      this.say(error.message);
    }
    this.section.dispatchEvent(new CustomEvent("recording", { detail: { state: "stopped" } }));
  }
}
