// The agent's viewer: receives the customer's screen over WebRTC, chat, control requests, connection quality.
import { SignalingClient, on, serially, fingerprint, strings } from "./signaling.js";
import { setupChat } from "./chat.js";
import { setupFiles } from "./files.js";
import { setupWorkflow } from "./workflow.js";
import { setupSessionLog } from "./sessionlog.js";

const root = document.getElementById("viewer");
const t = strings();
const video = document.getElementById("screen");
const statusBadge = document.getElementById("status");
const connection = document.getElementById("connection");
const quality = document.getElementById("quality");
const placeholder = document.getElementById("placeholder");
const controlNote = document.getElementById("control-note");
let pc = null;
let remoteFingerprint = null;
let iceServers = [];
let pendingCandidates = [];

for (const button of document.querySelectorAll("[data-copy]")) {
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(button.dataset.copy);
      button.textContent = t.copied;
    } catch {
      window.getSelection().selectAllChildren(button.previousElementSibling);
    }
  });
}

function setView(mode) {
  video.classList.toggle("fit", mode === "fit");
  video.classList.toggle("actual", mode === "actual");
  document.getElementById("fit").setAttribute("aria-pressed", String(mode === "fit"));
  document.getElementById("actual").setAttribute("aria-pressed", String(mode === "actual"));
}
document.getElementById("fit").addEventListener("click", () => setView("fit"));
document.getElementById("actual").addEventListener("click", () => setView("actual"));
document.getElementById("fullscreen").addEventListener("click", () => {
  document.getElementById("screen-wrap").requestFullscreen?.();
});

function showStatus(status) {
  root.dataset.status = status;
  if (status !== "waiting") document.getElementById("invite")?.remove(); // the code is spent
  statusBadge.textContent = { active: t.active, ended: t.ended, declined: t.declined, expired: t.expired,
    consent_requested: t.waiting }[status] || statusBadge.textContent;
  statusBadge.className = `badge status-${status}`;
  if (["ended", "declined", "expired"].includes(status)) {
    if (pc) pc.close();
    video.srcObject = null;
    placeholder.hidden = false;
    placeholder.textContent = t.ended;
    // Show the final log and duration as the server has recorded them.
    setTimeout(() => location.reload(), 1500);
  }
}

function newPeer() {
  if (pc) pc.close();
  pc = new RTCPeerConnection({ iceServers });
  pc.addEventListener("icecandidate", (event) => {
    client.send({ type: "ice", candidate: event.candidate ? event.candidate.toJSON() : null });
  });
  pc.addEventListener("track", (event) => {
    video.srcObject = event.streams[0] || new MediaStream([event.track]);
    placeholder.hidden = true;
  });
  pc.addEventListener("connectionstatechange", () => {
    connection.textContent = { connected: t.connected, connecting: t.connecting, disconnected: t.reconnecting,
      failed: t.reconnecting }[pc.connectionState] || pc.connectionState;
    connection.dataset.state = pc.connectionState;
  });
  pc.addEventListener("datachannel", (event) => {
    if (event.channel.label === "input") root.inputChannel = event.channel; // remote-control input (desktop agent)
  });
  client.emit("peerconnection", { pc });
  return pc;
}

const client = new SignalingClient(root.dataset.ws);

on(client, "hello", (m) => {
  showStatus(m.session.status);
  connection.textContent = m.peer_online ? t.connecting : t.offline;
});
on(client, "state", (m) => showStatus(m.status));
on(client, "peer", (m) => {
  connection.textContent = m.online ? (pc && pc.connectionState === "connected" ? t.connected : t.connecting) : t.offline;
});
on(client, "offer", serially(async (m) => {
  const incoming = fingerprint(m.sdp);
  if (!pc || incoming !== remoteFingerprint || pc.signalingState !== "stable") newPeer();
  remoteFingerprint = incoming;
  await pc.setRemoteDescription({ type: "offer", sdp: m.sdp });
  for (const candidate of pendingCandidates.splice(0)) await pc.addIceCandidate(candidate);
  await pc.setLocalDescription(await pc.createAnswer());
  client.send({ type: "answer", sdp: pc.localDescription.sdp });
}));
on(client, "ice", serially(async (m) => {
  if (!pc || !pc.remoteDescription) {
    if (m.candidate) pendingCandidates.push(m.candidate);
    return;
  }
  try {
    await pc.addIceCandidate(m.candidate || undefined);
  } catch (error) {
    console.warn("ICE candidate refused", error);
  }
}));
on(client, "control.grant", () => { if (controlNote) controlNote.textContent = t.controlGranted; });
on(client, "control.deny", () => { if (controlNote) controlNote.textContent = t.controlDenied; });
on(client, "reconnecting", () => { connection.textContent = t.reconnecting; });

setupChat(client, { selfLabel: "agent" });
setupFiles(client, { role: "agent" });
setupWorkflow(client);
setupSessionLog(client);
document.getElementById("request-control")?.addEventListener("click", () => {
  client.send({ type: "control.request" });
  controlNote.textContent = t.controlAsked;
});

setInterval(async () => {
  if (!pc || pc.connectionState !== "connected") return;
  let rtt = null;
  let fps = null;
  (await pc.getStats()).forEach((report) => {
    if (report.type === "candidate-pair" && report.nominated && report.currentRoundTripTime !== undefined) {
      rtt = Math.round(report.currentRoundTripTime * 1000);
    }
    if (report.type === "inbound-rtp" && report.kind === "video" && report.framesPerSecond) fps = report.framesPerSecond;
  });
  quality.textContent = [rtt !== null ? `${rtt} ms` : "", fps ? `${Math.round(fps)} fps` : ""].filter(Boolean).join(" · ");
}, 2000);

async function start() {
  try {
    const response = await fetch(root.dataset.iceUrl, { credentials: "same-origin" });
    if (response.ok) iceServers = (await response.json()).ice_servers;
  } catch {
    iceServers = [];
  }
  if (["waiting", "consent_requested", "active"].includes(root.dataset.status)) client.connect();
}
start();
window.connectViewer = { client, get pc() { return pc; } };
