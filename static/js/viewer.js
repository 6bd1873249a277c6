// The agent's viewer: receives the customer's screen over WebRTC, chat, control requests, connection quality.
import { SignalingClient, on, serially, fingerprint, strings } from "./signaling.js";
import { setupChat } from "./chat.js";
import { setupFiles } from "./files.js";
import { setupWorkflow } from "./workflow.js";
import { setupSessionLog } from "./sessionlog.js";
import { setupRemote } from "./remote.js";
import { SessionRecorder } from "./recorder.js";

const root = document.getElementById("viewer");
const t = strings();
const video = document.getElementById("screen");
const statusBadge = document.getElementById("status");
const connection = document.getElementById("connection");
const quality = document.getElementById("quality");
const placeholder = document.getElementById("placeholder");
const controlNote = document.getElementById("control-note");
const recordingSection = document.getElementById("recording");
const recorder = recordingSection ? new SessionRecorder(recordingSection, video) : null;
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

// Fit, or a zoom level (1 = actual size). The video sits in a scroll container and is centred with auto margins,
// which never place it at a negative offset: whatever overflows can be scrolled into view on every side.
const wrap = document.getElementById("screen-wrap");
const scroller = document.getElementById("screen-scroll");
const zoomLevel = document.getElementById("zoom-level");
const ZOOMS = [0.5, 0.67, 0.75, 0.9, 1, 1.25, 1.5, 1.75, 2];
const percent = new Intl.NumberFormat(undefined, { style: "percent" });
let zoom = null; // null: fit

function fitScale() {
  if (!video.videoWidth) return 1;
  return Math.min(scroller.clientWidth / video.videoWidth, scroller.clientHeight / video.videoHeight);
}

function applyView() {
  wrap.dataset.mode = zoom === null ? "fit" : "zoom";
  if (zoom === null || !video.videoWidth) {
    video.style.width = "";
    video.style.height = "";
  } else {
    video.style.width = `${Math.round(video.videoWidth * zoom)}px`;
    video.style.height = `${Math.round(video.videoHeight * zoom)}px`;
  }
  document.getElementById("fit")?.setAttribute("aria-pressed", String(zoom === null));
  document.getElementById("actual")?.setAttribute("aria-pressed", String(zoom === 1));
  if (zoomLevel) zoomLevel.textContent = zoom === null ? `${t.fit} · ${percent.format(fitScale())}` : percent.format(zoom);
  const zoomOut = document.getElementById("zoom-out");
  const zoomIn = document.getElementById("zoom-in");
  if (zoomOut && zoomIn && !zoomOut.dataset.off) {
    const current = zoom === null ? fitScale() : zoom;
    zoomOut.disabled = current <= ZOOMS[0] + 0.001;
    zoomIn.disabled = current >= ZOOMS[ZOOMS.length - 1] - 0.001;
  }
}

function setZoom(next) {
  // Keep the point in the middle of the view where it is.
  const midX = (scroller.scrollLeft + scroller.clientWidth / 2) / Math.max(scroller.scrollWidth, 1);
  const midY = (scroller.scrollTop + scroller.clientHeight / 2) / Math.max(scroller.scrollHeight, 1);
  zoom = next;
  applyView();
  scroller.scrollLeft = midX * scroller.scrollWidth - scroller.clientWidth / 2;
  scroller.scrollTop = midY * scroller.scrollHeight - scroller.clientHeight / 2;
}

function stepZoom(direction) {
  const current = zoom === null ? fitScale() : zoom;
  const next = direction > 0 ? ZOOMS.find((z) => z > current + 0.001) : [...ZOOMS].reverse().find((z) => z < current - 0.001);
  if (next !== undefined) setZoom(next);
}

function enableTools(enabled) {
  for (const id of ["fit", "actual", "zoom-out", "zoom-in", "fullscreen"]) {
    const button = document.getElementById(id);
    if (!button) continue;
    button.disabled = !enabled;
    if (enabled) delete button.dataset.off;
    else button.dataset.off = "1";
  }
  if (enabled) applyView();
}

document.getElementById("fit")?.addEventListener("click", () => setZoom(null));
document.getElementById("actual")?.addEventListener("click", () => setZoom(1));
document.getElementById("zoom-in")?.addEventListener("click", () => stepZoom(1));
document.getElementById("zoom-out")?.addEventListener("click", () => stepZoom(-1));
document.getElementById("fullscreen")?.addEventListener("click", () => {
  if (document.fullscreenElement) document.exitFullscreen?.();
  else wrap.requestFullscreen?.();
});
document.addEventListener("fullscreenchange", applyView);
window.addEventListener("resize", applyView);
video.addEventListener("resize", () => { // the customer's screen changed size (or a first frame)
  enableTools(video.videoWidth > 0);
  applyView();
});

// --- The truth about the picture: what the agent sees is live, or the overlay says why it is not. ---
const overlay = document.getElementById("screen-overlay");
const truth = { peerOnline: null, media: null, mediaUnknown: false, ice: "new", lastFrameAt: 0, framesDecoded: 0, muted: false, hadPicture: false };

function problem() {
  if (root.dataset.status !== "active") return null;
  // Back after a drop but not yet said what it sends: the old picture is not live until it does.
  if (truth.peerOnline === false || truth.mediaUnknown) return "gone";
  if (truth.media === "paused") return "paused";
  if (truth.media === "unavailable") return "unavailable";
  if (!truth.hadPicture) return null; // nothing shown yet: the placeholder says what is awaited
  if (["disconnected", "failed"].includes(truth.ice) || truth.muted) return "lost";
  if (Date.now() - truth.lastFrameAt > 2000) return "lost";
  return null;
}

function renderTruth() {
  const issue = problem();
  root.dataset.picture = issue || (truth.hadPicture ? "live" : "none");
  overlay.hidden = !issue;
  video.classList.toggle("stale", Boolean(issue));
  if (issue) {
    document.getElementById("overlay-title").textContent = t[`${issue}Title`];
    document.getElementById("overlay-detail").textContent = t[`${issue}Detail`];
    overlay.dataset.issue = issue;
  }
  if (root.dataset.status === "active") placeholder.hidden = Boolean(issue || video.srcObject);
  if (root.dataset.status === "active") {
    statusBadge.textContent = issue ? t.interrupted : t.active;
    statusBadge.className = `badge status-${issue ? "interrupted" : "active"}`;
    const label = { gone: t.offline, paused: t.paused, unavailable: t.noPicture, lost: t.reconnecting }[issue];
    if (label) {
      connection.textContent = label;
      connection.dataset.state = "problem";
    } else if (pc && pc.connectionState === "connected") {
      connection.textContent = truth.media === "camera" ? `${t.connected} · ${t.camera}` : t.connected;
      connection.dataset.state = "connected";
    }
  }
}

function showStatus(status) {
  root.dataset.status = status;
  if (status !== "waiting") document.getElementById("invite")?.remove(); // the code is spent
  statusBadge.textContent = { active: t.active, ended: t.ended, declined: t.declined, expired: t.expired,
    consent_requested: t.waiting }[status] || statusBadge.textContent;
  statusBadge.className = `badge status-${status}`;
  if (["ended", "declined", "expired"].includes(status)) {
    const recorded = recorder ? recorder.stopAndWait() : Promise.resolve(); // the last chunk goes up first
    if (pc) pc.close();
    pc = null;
    video.srcObject = null;
    placeholder.hidden = false;
    placeholder.textContent = t.ended;
    overlay.hidden = true;
    enableTools(false);
    endDialog?.close();
    // Nothing these can do any more: disabled at once, with the reason beside them.
    for (const button of document.querySelectorAll("#request-control, #end, #end-confirm")) button.disabled = true;
    const note = document.getElementById("ended-live-note");
    if (note && document.getElementById("end")) note.hidden = false;
    connection.textContent = "";
    quality.textContent = "";
    // Show the final log and duration as the server has recorded them.
    Promise.all([recorded, new Promise((resolve) => setTimeout(resolve, 1500))]).then(() => location.reload());
    return;
  }
  renderTruth();
}

function newPeer() {
  if (pc) pc.close();
  pc = new RTCPeerConnection({ iceServers });
  pc.addEventListener("icecandidate", (event) => {
    client.send({ type: "ice", candidate: event.candidate ? event.candidate.toJSON() : null });
  });
  const peer = pc;
  truth.framesDecoded = 0;
  truth.ice = "new";
  truth.lastFrameAt = Date.now(); // a new negotiation gets its own two seconds
  pc.addEventListener("track", (event) => {
    video.srcObject = event.streams[0] || new MediaStream([event.track]);
    if (recorder) recorder.refresh();
    placeholder.hidden = true;
    truth.muted = false;
    event.track.addEventListener("mute", () => { truth.muted = true; renderTruth(); });
    event.track.addEventListener("unmute", () => { truth.muted = false; truth.lastFrameAt = Date.now(); renderTruth(); });
  });
  pc.addEventListener("connectionstatechange", () => {
    if (peer !== pc) return;
    connection.textContent = { connected: t.connected, connecting: t.connecting, disconnected: t.reconnecting,
      failed: t.reconnecting }[pc.connectionState] || pc.connectionState;
    connection.dataset.state = pc.connectionState;
    truth.ice = pc.connectionState;
    renderTruth();
  });
  client.emit("peerconnection", { pc });
  return pc;
}

const client = new SignalingClient(root.dataset.ws);

on(client, "hello", (m) => {
  truth.peerOnline = Boolean(m.peer_online);
  showStatus(m.session.status);
  connection.textContent = m.peer_online ? t.connecting : t.offline;
  renderTruth();
});
on(client, "state", (m) => showStatus(m.status));
on(client, "peer", (m) => {
  truth.peerOnline = Boolean(m.online);
  if (!m.online) {
    truth.media = null; // what it sends next is said again when it is back
    truth.mediaUnknown = true;
  }
  connection.textContent = m.online ? (pc && pc.connectionState === "connected" ? t.connected : t.connecting) : t.offline;
  renderTruth();
});
on(client, "media", (m) => {
  truth.media = m.state;
  truth.mediaUnknown = false;
  if (m.state === "sharing" || m.state === "camera") truth.lastFrameAt = Date.now();
  renderTruth();
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
// A desktop agent's answers show in the remote-control panel (remote.js); these notes are for browser customers.
on(client, "control.grant", () => { if (controlNote && !root.dataset.remote) controlNote.textContent = t.controlGranted; });
on(client, "control.deny", () => { if (controlNote && !root.dataset.remote) controlNote.textContent = t.controlDenied; });
on(client, "reconnecting", () => { connection.textContent = t.reconnecting; });

setupChat(client, { selfLabel: "agent" });
setupFiles(client, { role: "agent" });
setupWorkflow(client);
setupSessionLog(client);
setupRemote(client, { root, video, surface: scroller });
const endForm = document.getElementById("end-form");
const endDialog = document.getElementById("end-dialog");
endForm?.addEventListener("submit", (event) => {
  if (endForm.dataset.confirmed || !endDialog?.showModal) return; // no <dialog> support: the plain form posts
  event.preventDefault();
  endDialog.showModal();
});
document.getElementById("end-cancel")?.addEventListener("click", () => endDialog.close());
document.getElementById("end-confirm")?.addEventListener("click", async () => {
  endForm.dataset.confirmed = "1";
  document.getElementById("end-confirm").disabled = true;
  if (recorder) await recorder.stopAndWait(); // a recording running completes before the page posts the end
  endForm.requestSubmit();
});
document.getElementById("request-control")?.addEventListener("click", () => {
  client.send({ type: "control.request" });
  controlNote.textContent = t.controlAsked;
});

// Every second: round-trip time and frame rate for the badge, and whether frames still arrive (the truth overlay).
setInterval(async () => {
  if (!pc || root.dataset.status !== "active") return;
  const peer = pc;
  let rtt = null;
  let fps = null;
  let decoded = null;
  (await peer.getStats()).forEach((report) => {
    if (report.type === "candidate-pair" && report.nominated && report.currentRoundTripTime !== undefined) {
      rtt = Math.round(report.currentRoundTripTime * 1000);
    }
    if (report.type === "inbound-rtp" && report.kind === "video") {
      decoded = (decoded || 0) + (report.framesDecoded || 0);
      if (report.framesPerSecond) fps = report.framesPerSecond;
    }
  });
  if (peer !== pc) return;
  if (decoded !== null && decoded > truth.framesDecoded) {
    truth.framesDecoded = decoded;
    truth.lastFrameAt = Date.now();
    truth.hadPicture = true;
  }
  const live = !problem();
  quality.textContent = live && pc.connectionState === "connected"
    ? [rtt !== null ? `${rtt} ms` : "", fps ? `${Math.round(fps)} fps` : ""].filter(Boolean).join(" · ") : "";
  renderTruth();
}, 1000);

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
window.connectViewer = { client, truth, get pc() { return pc; } };

// The plan's session length: the note turns into a warning in the last five minutes, and the server says so too
// (the "limit" message) for a viewer opened before sharing started.
const timeLimit = document.getElementById("time-limit");
function warnAt(endsAt) {
  const near = () => timeLimit.classList.toggle("notice", endsAt - Date.now() <= 5 * 60 * 1000);
  near();
  setInterval(near, 15000);
}
if (timeLimit?.dataset.endsAt) warnAt(Date.parse(timeLimit.dataset.endsAt));
on(client, "limit", (m) => {
  if (!timeLimit || m.limit !== "session_length") return;
  const endsAt = Date.parse(m.ends_at);
  const time = new Date(endsAt).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  timeLimit.textContent = timeLimit.dataset.text.replace("{time}", time);
  warnAt(endsAt);
});
