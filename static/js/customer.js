// The customer's side: consent, screen (or camera) capture, the WebRTC offer, one bar that says what is being sent
// ("You are sharing…" with a stop button, or "Sharing paused — press Share again"), chat. The agent is told what
// this page sends with `media` messages (docs/signaling.md, "Media state").
import { SignalingClient, on, serially, strings } from "./signaling.js";
import { setupChat } from "./chat.js";
import { setupFiles } from "./files.js";
import { setupCustomerWorkflow } from "./workflow.js";

const root = document.getElementById("customer");
const t = strings();
const iceServers = JSON.parse(document.getElementById("ice-servers").textContent);
const panels = ["consent", "waiting", "sharing", "ended"].map((id) => document.getElementById(id));
const connection = document.getElementById("connection");
// Most phones and tablets have no screen capture; a camera they have.
const canShareScreen = Boolean(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
const canShareCamera = Boolean(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
let stream = null;
let source = null; // "sharing" (the screen) or "camera" while a stream is sent
let pc = null;
let status = root.dataset.status;
let handedOver = false; // the desktop agent on this computer joined as the customer: it shares, this page does not

function show(id) {
  for (const panel of panels) panel.hidden = panel.id !== id;
}

function mediaState() {
  if (stream) return source;
  return canShareScreen ? "paused" : "unavailable";
}

function tellAgent() {
  if (!handedOver && ["consent_requested", "active"].includes(status)) client.send({ type: "media", state: mediaState() });
}

// The sharing panel shows exactly one of its two bars.
function renderSharing() {
  if (handedOver) {
    document.getElementById("sharing-live").hidden = true;
    document.getElementById("reshare-note").hidden = true;
    return;
  }
  const live = Boolean(stream);
  document.getElementById("sharing-live").hidden = !live;
  document.getElementById("reshare-note").hidden = live;
  document.getElementById("sharing-screen").hidden = source === "camera";
  document.getElementById("sharing-camera").hidden = source !== "camera";
  document.getElementById("reshare").hidden = !canShareScreen;
  document.getElementById("reshare-camera").hidden = !canShareCamera || canShareScreen;
  document.getElementById("reshare-camera").classList.toggle("secondary", canShareScreen);
  if (!canShareScreen) document.getElementById("paused-why").textContent = t.pausedNoScreen;
}

function stopMedia() {
  if (stream) stream.getTracks().forEach((track) => track.stop());
  stream = null;
  source = null;
  if (pc) pc.close();
  pc = null;
}

async function capture(kind) {
  if (kind === "camera") {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: "environment" } }, audio: false });
  } else {
    stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
  }
  source = kind;
  // The browser's own "Stop sharing" button ends the session like ours does.
  const captured = stream;
  stream.getVideoTracks()[0].addEventListener("ended", () => {
    if (stream === captured) client.send({ type: "consent.revoke" });
  });
}

async function offer({ iceRestart = false } = {}) {
  if (!stream || handedOver) return;
  if (!pc || iceRestart === false) {
    if (pc) pc.close();
    pc = new RTCPeerConnection({ iceServers });
    pc.createDataChannel("input"); // remote-control input arrives here when a desktop agent is present
    client.emit("peerconnection", { pc }); // before the offer: channels other modules open are negotiated in it
    stream.getTracks().forEach((track) => pc.addTrack(track, stream));
    const peer = pc;
    pc.addEventListener("icecandidate", (event) => {
      if (peer === pc) client.send({ type: "ice", candidate: event.candidate ? event.candidate.toJSON() : null });
    });
    pc.addEventListener("connectionstatechange", () => {
      if (peer !== pc) return;
      connection.textContent = { connected: t.connected, connecting: t.connecting, disconnected: t.reconnecting,
        failed: t.reconnecting }[pc.connectionState] || "";
      if (pc.connectionState === "failed") offer({ iceRestart: true });
    });
  }
  await pc.setLocalDescription(await pc.createOffer({ iceRestart }));
  client.send({ type: "offer", sdp: pc.localDescription.sdp });
}

function applyStatus(next) {
  status = next;
  root.dataset.status = next;
  if (next === "active") {
    show("sharing");
    renderSharing();
  } else if (next === "consent_requested") {
    show("consent");
  } else if (["ended", "declined", "expired"].includes(next)) {
    stopMedia();
    show("ended");
    client.stop();
  }
}

const client = new SignalingClient(root.dataset.ws);
// The consent buttons come disabled from the server and work once the session's connection is up.
on(client, "hello", (m) => {
  for (const id of ["share", "share-camera", "decline"]) document.getElementById(id).disabled = false;
  applyStatus(m.session.status);
  tellAgent();
  if (m.session.status === "active" && stream && pc) offer({ iceRestart: true });
});
on(client, "state", serially(async (m) => {
  const wasActive = status === "active";
  applyStatus(m.status);
  if (m.status === "active" && !wasActive) {
    await offer();
    tellAgent();
  }
}));
on(client, "resync", serially(() => offer({ iceRestart: true })));
on(client, "recording", (m) => { // the agent started or stopped a recording: the customer always sees it
  document.getElementById("recording-indicator").hidden = m.state !== "started";
});
on(client, "limit", (m) => { // the agent's plan ends the session soon: say when, before it happens
  const notice = document.getElementById("time-limit-notice");
  if (!notice || m.limit !== "session_length") return;
  const time = new Date(Date.parse(m.ends_at)).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  notice.textContent = notice.dataset.text.replace("{time}", time);
  notice.hidden = false;
});
on(client, "answer", serially(async (m) => {
  if (pc && pc.signalingState === "have-local-offer") await pc.setRemoteDescription({ type: "answer", sdp: m.sdp });
}));
on(client, "ice", serially(async (m) => {
  if (!pc || !pc.remoteDescription) return; // candidates of an older negotiation
  try {
    await pc.addIceCandidate(m.candidate || undefined);
  } catch (error) {
    console.warn("ICE candidate refused", error);
  }
}));
on(client, "peer", (m) => {
  if (m.role !== "agent" || !m.online) return;
  tellAgent(); // a viewer that just opened learns what this page sends
  if (status === "active" && stream) offer();
});
on(client, "control.request", () => {
  if (!handedOver) document.getElementById("control-notice").hidden = false;
});
on(client, "handover", () => {
  handedOver = true;
  stopMedia();
  document.getElementById("control-notice").hidden = true;
  document.getElementById("sharing-live").hidden = true;
  document.getElementById("reshare-note").hidden = true;
  document.getElementById("handover-notice").hidden = false;
});
on(client, "reconnecting", () => { connection.textContent = t.reconnecting; });

if (!canShareScreen) {
  // Said before the customer presses anything: the agent is told too (on hello).
  document.getElementById("no-screen").hidden = false;
  document.getElementById("share").hidden = true;
  document.getElementById("share-camera").hidden = !canShareCamera;
}

async function consentWith(kind, failure) {
  const error = document.getElementById("share-error");
  error.hidden = true;
  try {
    await capture(kind);
  } catch {
    error.textContent = failure;
    error.hidden = false;
    return;
  }
  show("waiting");
  client.send({ type: "consent.grant" });
}
document.getElementById("share").addEventListener("click", () => consentWith("sharing", t.denied));
document.getElementById("share-camera").addEventListener("click", () => consentWith("camera", t.cameraDenied));
document.getElementById("decline").addEventListener("click", () => client.send({ type: "consent.decline" }));
document.getElementById("stop").addEventListener("click", () => {
  stopMedia();
  client.send({ type: "consent.revoke" });
});

async function shareAgain(kind, failure) {
  const error = document.getElementById("reshare-error");
  error.hidden = true;
  try {
    await capture(kind);
  } catch {
    error.textContent = failure;
    error.hidden = false;
    return;
  }
  renderSharing();
  await offer();
  tellAgent();
}
document.getElementById("reshare").addEventListener("click", () => shareAgain("sharing", t.denied));
document.getElementById("reshare-camera").addEventListener("click", () => shareAgain("camera", t.cameraDenied));
document.getElementById("end-here").addEventListener("click", () => client.send({ type: "end" }));
document.getElementById("end-handed-over").addEventListener("click", () => client.send({ type: "end" }));
document.getElementById("control-ok").addEventListener("click", () => {
  client.send({ type: "control.deny" });
  document.getElementById("control-notice").hidden = true;
});
setupChat(client, { selfLabel: "you" });
setupFiles(client, { role: "customer" });
setupCustomerWorkflow(client);

if (status === "active") renderSharing();
if (["consent_requested", "active"].includes(status)) client.connect();
