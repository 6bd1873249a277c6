// File transfer between the agent and the customer (both pages), docs/signaling.md "File transfer".
//
// The bytes go over the WebRTC data channel labelled "files" (the customer's page opens it on each RTCPeerConnection,
// the agent's takes it from the "datachannel" event); only the control goes over the signaling socket, where the
// server enforces the organization's limit and logs name, size and SHA-256:
//   sender: file.offer {id, name, size}  ->  receiver: file.accept {id} | file.decline {id}
//   sender (only once accepted): on the channel a text frame {"id", "start"}, binary chunks, {"id", "end"};
//   then file.done {id, sha256}; receiver, once it has every byte: file.received {id, sha256 of what arrived}.
// Either side may file.cancel {id} until then. Nothing is sent on an offer that was not accepted.
import { on } from "./signaling.js";

const CHUNK_BYTES = 16 * 1024;
const READ_BYTES = 1024 * 1024; // read the file a megabyte at a time, sent in chunks
const HIGH_WATER = 1024 * 1024; // stop queueing when this much waits in the channel...
const LOW_WATER = 256 * 1024; // ...until it drains to this
const FINAL = ["ended", "declined", "expired"];
const BAD_NAME = /[\/\\\p{Cc}\p{Cf}\p{Cs}\u2028\u2029]/u;
const numberFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

export function formatSize(bytes) {
  for (const [unit, factor] of [["GB", 1024 ** 3], ["MB", 1024 ** 2], ["KB", 1024]]) {
    if (bytes >= factor) return `${numberFormat.format(bytes / factor)} ${unit}`;
  }
  return `${bytes} B`;
}

function exactSize(bytes) {
  return `${new Intl.NumberFormat().format(bytes)} B`;
}

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

async function sha256(blob) {
  return hex(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()));
}

function newId() {
  return crypto.randomUUID ? crypto.randomUUID() : hex(crypto.getRandomValues(new Uint8Array(16)));
}

export function setupFiles(client, { role }) {
  const root = document.getElementById("files");
  if (!root) return;
  const stringsTemplate = document.getElementById("files-i18n");
  const words = stringsTemplate ? stringsTemplate.dataset : {};
  // The agent's name follows a transfer (the "agent" message), so rows made afterwards name the new agent.
  if (role === "customer") on(client, "agent", (m) => { if (m.name) root.dataset.peer = m.name; });
  const say = (key, values = {}) =>
    (words[key] || key).replace(/\{(\w+)\}/g, (match, name) =>
      (name === "peer" ? root.dataset.peer || "" : values[name] ?? match));
  const maxBytes = Number(root.dataset.maxBytes) || 0;
  const pick = document.getElementById("file-pick");
  const pickLabel = document.getElementById("file-pick-label");
  const list = document.getElementById("files-list");
  const error = document.getElementById("files-error");
  const note = document.getElementById("files-note");
  const noteText = note ? note.textContent : "";

  const transfers = new Map(); // id -> transfer
  const outgoing = []; // accepted offers of ours waiting for their turn on the channel
  let channel = null;
  let sendingNow = null;
  let receiving = null; // the incoming transfer whose bytes are arriving
  let over = false;
  // What this page put on, and took off, the channel: the tests read it (a declined offer sends nothing).
  const stats = { bytesSent: 0, bytesReceived: 0, chunksSent: 0, chunksReceived: 0 };
  window.connectFiles = { stats, transfers };

  function showError(text) {
    error.textContent = text || "";
    error.hidden = !text;
  }

  function usable() {
    return !over && channel && channel.readyState === "open";
  }

  function updateAvailability() {
    const ok = usable();
    pick.disabled = !ok;
    pickLabel.setAttribute("aria-disabled", String(!ok));
    pickLabel.classList.toggle("disabled", !ok);
    const remote = document.getElementById("viewer")?.dataset.remote; // a desktop agent, not a browser (remote.js)
    if (note) note.textContent = over ? say("sessionOver") : ok ? (remote ? note.dataset.machine : noteText) : say("unavailable");
    root.dataset.channel = ok ? "open" : "closed";
  }

  // --- one row per transfer -------------------------------------------------------------------------------------

  function row(transfer) {
    const item = document.createElement("li");
    item.className = `transfer ${transfer.mine ? "out" : "in"}`;
    item.dataset.id = transfer.id;
    const head = document.createElement("div");
    head.className = "transfer-head";
    const name = document.createElement("strong");
    name.className = "transfer-name";
    name.textContent = transfer.name;
    const meta = document.createElement("span");
    meta.className = "transfer-meta muted small";
    meta.textContent = `${formatSize(transfer.size)} · ${say(transfer.mine ? "to" : "from")}`;
    head.append(name, meta);
    const status = document.createElement("span");
    status.className = "transfer-status small";
    status.setAttribute("role", "status");
    const progress = document.createElement("progress");
    progress.className = "transfer-progress";
    progress.max = Math.max(transfer.size, 1);
    progress.value = 0;
    progress.hidden = true;
    progress.setAttribute("aria-label", transfer.name);
    const hash = document.createElement("p");
    hash.className = "transfer-hash small";
    hash.hidden = true;
    const actions = document.createElement("div");
    actions.className = "transfer-actions";
    item.append(head, status, progress, hash, actions);
    transfer.el = { item, status, progress, hash, actions };
    list.prepend(item);
  }

  function button(label, kind, handler) {
    const element = document.createElement("button");
    element.type = "button";
    element.className = `button ${kind} small`;
    element.textContent = label;
    element.addEventListener("click", handler);
    return element;
  }

  function setState(transfer, state, text) {
    transfer.state = state;
    transfer.el.item.dataset.state = state;
    transfer.el.status.textContent = text;
    const { actions } = transfer.el;
    actions.replaceChildren();
    if (state === "offered" && !transfer.mine) {
      actions.append(
        button(say("accept"), "", () => accept(transfer)),
        button(say("decline"), "secondary", () => decline(transfer)),
      );
    } else if (["offered", "accepted", "sending", "receiving"].includes(state)) {
      actions.append(button(say("cancel"), "secondary", () => cancel(transfer)));
    }
    if (transfer.url && !transfer.mine) {
      const link = document.createElement("a");
      link.className = "button small transfer-download";
      link.href = transfer.url;
      link.download = transfer.name;
      link.textContent = `${say("download")} ${transfer.name}`;
      actions.append(link);
    }
    transfer.el.progress.hidden = !["sending", "receiving", "hashing"].includes(state) && !transfer.done;
  }

  function showProgress(transfer, bytes, force = false) {
    const now = performance.now();
    if (!force && now - (transfer.drawnAt || 0) < 100) return;
    transfer.drawnAt = now;
    transfer.el.progress.value = bytes;
    transfer.el.progress.hidden = false;
    const percent = transfer.size ? Math.floor((bytes / transfer.size) * 100) : 100;
    transfer.el.status.textContent = `${say(transfer.mine ? "sending" : "receiving")} ${percent}% · ${formatSize(bytes)}`;
  }

  function showHash(transfer) {
    const { hash } = transfer.el;
    const ours = transfer.mine ? transfer.sha256 : transfer.receivedSha256;
    if (!ours) return;
    hash.replaceChildren();
    const label = document.createElement("span");
    label.className = "muted";
    label.textContent = `${say("sha")} `;
    const code = document.createElement("code");
    code.className = "sha256";
    code.textContent = ours;
    hash.append(label, code);
    const theirs = transfer.mine ? transfer.peerSha256 : transfer.sha256;
    if (theirs) {
      const verdict = document.createElement("span");
      const same = theirs === ours;
      verdict.className = `hash-verdict ${same ? "ok" : "bad"}`;
      const key = transfer.mine ? (same ? "matchReceived" : "mismatchReceived") : same ? "match" : "mismatch";
      verdict.textContent = ` ${same ? "✓" : "✗"} ${say(key)}`;
      hash.append(verdict);
    }
    hash.hidden = false;
  }

  // --- sending --------------------------------------------------------------------------------------------------

  function offer(file) {
    showError("");
    const name = (file.name || "").normalize("NFC").trim();
    // The server's rule (signaling.protocol.clean_file_name): no path, no control or format characters, 255 at most.
    if (!name || name.length > 255 || name === "." || name === ".." || BAD_NAME.test(name)) {
      showError(say("emptyName"));
      return;
    }
    if (file.size > maxBytes) {
      // Refused here, before anything is offered; the server would refuse it too.
      let [size, limit] = [formatSize(file.size), formatSize(maxBytes)];
      if (size === limit) [size, limit] = [exactSize(file.size), `${limit} (${exactSize(maxBytes)})`]; // not "1 MB: at most 1 MB"
      showError(say("tooLarge", { name, size, limit }));
      return;
    }
    const transfer = { id: newId(), name, size: file.size, file, mine: true };
    transfers.set(transfer.id, transfer);
    row(transfer);
    setState(transfer, "offered", say("offeredOut"));
    client.send({ type: "file.offer", id: transfer.id, name, size: file.size });
  }

  function drained(current) {
    return new Promise((resolve) => {
      const done = () => {
        current.removeEventListener("bufferedamountlow", done);
        current.removeEventListener("close", done);
        resolve();
      };
      current.addEventListener("bufferedamountlow", done);
      current.addEventListener("close", done);
    });
  }

  async function pump() {
    if (sendingNow || !usable()) return;
    const transfer = outgoing.shift();
    if (!transfer) return;
    if (transfer.state !== "accepted") return pump();
    sendingNow = transfer;
    const current = channel;
    transfer.channel = current;
    setState(transfer, "sending", say("sending"));
    try {
      current.send(JSON.stringify({ id: transfer.id, start: true, size: transfer.size }));
      let sent = 0;
      for (let offset = 0; offset < transfer.size; offset += READ_BYTES) {
        const block = await transfer.file.slice(offset, offset + READ_BYTES).arrayBuffer();
        for (let at = 0; at < block.byteLength; at += CHUNK_BYTES) {
          if (transfer.state !== "sending") return; // cancelled by either side
          if (current.readyState !== "open") throw new Error("channel closed");
          if (current.bufferedAmount > HIGH_WATER) await drained(current);
          if (current.readyState !== "open") throw new Error("channel closed");
          const chunk = block.slice(at, at + CHUNK_BYTES);
          current.send(chunk);
          sent += chunk.byteLength;
          stats.bytesSent += chunk.byteLength;
          stats.chunksSent += 1;
          showProgress(transfer, sent);
        }
      }
      current.send(JSON.stringify({ id: transfer.id, end: true }));
      showProgress(transfer, sent, true);
      setState(transfer, "hashing", say("hashing"));
      transfer.sha256 = await sha256(transfer.file);
      transfer.done = true;
      setState(transfer, "sent", say("sent"));
      showHash(transfer);
      client.send({ type: "file.done", id: transfer.id, sha256: transfer.sha256 });
    } catch (failure) {
      if (transfer.state === "sending" || transfer.state === "hashing") interrupt(transfer);
    } finally {
      sendingNow = null;
      pump();
    }
  }

  function interrupt(transfer) {
    setState(transfer, "interrupted", say("interrupted"));
    client.send({ type: "file.cancel", id: transfer.id });
  }

  // --- receiving ------------------------------------------------------------------------------------------------

  function accept(transfer) {
    if (transfer.state !== "offered") return;
    transfer.chunks = [];
    transfer.bytes = 0;
    setState(transfer, "accepted", say("acceptedIn"));
    client.send({ type: "file.accept", id: transfer.id });
  }

  function decline(transfer) {
    if (transfer.state !== "offered") return;
    setState(transfer, "declined", say("declinedIn"));
    client.send({ type: "file.decline", id: transfer.id });
  }

  function cancel(transfer) {
    if (!["offered", "accepted", "sending", "receiving"].includes(transfer.state)) return;
    if (receiving === transfer) receiving = null;
    transfer.chunks = null;
    setState(transfer, "cancelled", say("cancelled"));
    client.send({ type: "file.cancel", id: transfer.id });
  }

  async function finishReceiving(transfer) {
    receiving = null;
    showProgress(transfer, transfer.bytes, true);
    if (transfer.bytes !== transfer.size) {
      interrupt(transfer);
      return;
    }
    setState(transfer, "hashing", say("hashing"));
    const blob = new Blob(transfer.chunks, { type: "application/octet-stream" });
    transfer.chunks = null;
    transfer.receivedSha256 = await sha256(blob);
    transfer.url = URL.createObjectURL(blob);
    transfer.done = true;
    setState(transfer, "received", say("received"));
    showHash(transfer);
    confirm(transfer);
  }

  // The receiver confirms once it has every byte and the sender's file.done: the server takes file.received only
  // after file.done, and the two travel different paths (the data channel, the signaling socket).
  function confirm(transfer) {
    if (transfer.confirmed || !transfer.receivedSha256 || !transfer.sha256) return;
    transfer.confirmed = true;
    client.send({ type: "file.received", id: transfer.id, sha256: transfer.receivedSha256 });
  }

  function onChannelMessage(event) {
    if (typeof event.data === "string") {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      const transfer = transfers.get(frame.id);
      if (frame.start) {
        // Only bytes of an offer this page accepted are kept; anything else is dropped unread.
        receiving = transfer && !transfer.mine && transfer.state === "accepted" ? transfer : null;
        if (receiving) {
          receiving.channel = event.target;
          setState(receiving, "receiving", say("receiving"));
        }
      } else if (frame.end && receiving && receiving === transfer) {
        finishReceiving(transfer);
      }
      return;
    }
    if (!receiving || receiving.state !== "receiving") return;
    const bytes = event.data.byteLength;
    stats.bytesReceived += bytes;
    stats.chunksReceived += 1;
    receiving.bytes += bytes;
    if (receiving.bytes > receiving.size) {
      const transfer = receiving;
      receiving = null;
      transfer.chunks = null;
      interrupt(transfer); // more than was offered: not the file that was accepted
      return;
    }
    receiving.chunks.push(event.data);
    showProgress(receiving, receiving.bytes);
  }

  function attach(newChannel) {
    newChannel.binaryType = "arraybuffer";
    newChannel.bufferedAmountLowThreshold = LOW_WATER;
    channel = newChannel;
    newChannel.addEventListener("open", () => {
      updateAvailability();
      pump();
    });
    newChannel.addEventListener("message", onChannelMessage);
    newChannel.addEventListener("close", () => {
      // A transfer under way on this channel cannot go on on the next one (a new connection starts afresh).
      for (const transfer of transfers.values()) {
        if (transfer.channel === newChannel && ["sending", "receiving"].includes(transfer.state)) {
          if (receiving === transfer) receiving = null;
          interrupt(transfer);
        }
      }
      updateAvailability();
    });
    updateAvailability();
  }

  on(client, "peerconnection", ({ pc }) => {
    if (role === "customer") {
      attach(pc.createDataChannel("files", { ordered: true }));
    } else {
      pc.addEventListener("datachannel", (event) => {
        if (event.channel.label === "files") attach(event.channel);
      });
    }
  });

  // --- the control, from the other party and the server ---------------------------------------------------------

  on(client, "file.offer", (message) => {
    if (transfers.has(message.id) || over) return;
    const transfer = { id: message.id, name: message.name, size: message.size, mine: false };
    transfers.set(transfer.id, transfer);
    row(transfer);
    setState(transfer, "offered", say("offeredIn"));
    if (message.size > maxBytes) decline(transfer);
  });
  on(client, "file.accept", (message) => {
    const transfer = transfers.get(message.id);
    if (!transfer || !transfer.mine || transfer.state !== "offered") return;
    setState(transfer, "accepted", say("acceptedOut"));
    outgoing.push(transfer);
    pump();
  });
  on(client, "file.decline", (message) => {
    const transfer = transfers.get(message.id);
    if (transfer && transfer.mine && transfer.state === "offered") setState(transfer, "declined", say("declinedOut"));
  });
  on(client, "file.cancel", (message) => {
    const transfer = transfers.get(message.id);
    if (!transfer || !["offered", "accepted", "sending", "receiving", "hashing"].includes(transfer.state)) return;
    if (receiving === transfer) receiving = null;
    transfer.chunks = null;
    setState(transfer, "cancelled", say("cancelled"));
  });
  on(client, "file.done", (message) => {
    const transfer = transfers.get(message.id);
    if (!transfer || transfer.mine) return;
    transfer.sha256 = message.sha256; // the sender's, compared with what arrived
    showHash(transfer);
    confirm(transfer);
  });
  on(client, "file.received", (message) => {
    const transfer = transfers.get(message.id);
    if (!transfer || !transfer.mine) return;
    transfer.peerSha256 = message.sha256;
    setState(transfer, "delivered", say("delivered"));
    showHash(transfer);
  });
  on(client, "error", (message) => {
    const transfer = message.id && transfers.get(message.id);
    if (!transfer) return;
    if (message.code === "file_too_large") {
      setState(transfer, "refused", say("refused"));
      showError(message.message);
    } else if (["unknown_file", "invalid_message", "rate_limited", "invalid_state"].includes(message.code)) {
      setState(transfer, "refused", `${say("refused")}: ${message.message}`);
    }
  });

  function end() {
    over = true;
    for (const transfer of transfers.values()) {
      if (["offered", "accepted", "sending", "receiving"].includes(transfer.state)) {
        transfer.chunks = null;
        setState(transfer, "cancelled", say("cancelled"));
      }
    }
    receiving = null;
    updateAvailability();
  }
  on(client, "state", (message) => {
    if (FINAL.includes(message.status)) end();
  });
  on(client, "hello", (message) => {
    if (FINAL.includes(message.session?.status)) end();
  });

  pick.addEventListener("change", () => {
    for (const file of pick.files) offer(file);
    pick.value = ""; // the same file can be chosen again
  });
  updateAvailability();
}
