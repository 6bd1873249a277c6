// The customer's side: consent, screen capture, the WebRTC offer, "you are sharing" with a stop button, chat.
import { SignalingClient, on, serially, strings } from "./signaling.js";
import { setupChat } from "./chat.js";
import { setupFiles } from "./files.js";

const root = document.getElementById("customer");
const t = strings();
const iceServers = JSON.parse(document.getElementById("ice-servers").textContent);
const panels = ["consent", "waiting", "sharing", "ended"].map((id) => document.getElementById(id));
const connection = document.getElementById("connection");
let stream = null;
let pc = null;
let status = root.dataset.status;

function show(id) {
  for (const panel of panels) panel.hidden = panel.id !== id;
}

function stopMedia() {
  if (stream) stream.getTracks().forEach((track) => track.stop());
  stream = null;
  if (pc) pc.close();
  pc = null;
}

async function capture() {
  stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
  // The browser's own "Stop sharing" button ends the session like ours does.
  stream.getVideoTracks()[0].addEventListener("ended", () => client.send({ type: "consent.revoke" }));
}

async function offer({ iceRestart = false } = {}) {
  if (!stream) return;
  if (!pc || iceRestart === false) {
    if (pc) pc.close();
    pc = new RTCPeerConnection({ iceServers });
    pc.createDataChannel("input"); // remote-control input arrives here when a desktop agent is present
    client.emit("peerconnection", { pc }); // before the offer: channels other modules open are negotiated in it
    stream.getTracks().forEach((track) => pc.addTrack(track, stream));
    pc.addEventListener("icecandidate", (event) => {
      client.send({ type: "ice", candidate: event.candidate ? event.candidate.toJSON() : null });
    });
    pc.addEventListener("connectionstatechange", () => {
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
    document.getElementById("reshare-note").hidden = Boolean(stream);
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
  document.getElementById("share").disabled = false;
  document.getElementById("decline").disabled = false;
  applyStatus(m.session.status);
  if (m.session.status === "active" && stream && pc) offer({ iceRestart: true });
});
on(client, "state", serially(async (m) => {
  const wasActive = status === "active";
  applyStatus(m.status);
  if (m.status === "active" && !wasActive) await offer();
}));
on(client, "resync", serially(() => offer({ iceRestart: true })));
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
  if (m.role === "agent" && m.online && status === "active" && stream) offer();
});
on(client, "control.request", () => { document.getElementById("control-notice").hidden = false; });
on(client, "reconnecting", () => { connection.textContent = t.reconnecting; });

document.getElementById("share").addEventListener("click", async () => {
  const error = document.getElementById("share-error");
  error.hidden = true;
  try {
    await capture();
  } catch {
    error.textContent = t.denied;
    error.hidden = false;
    return;
  }
  show("waiting");
  client.send({ type: "consent.grant" });
});
document.getElementById("decline").addEventListener("click", () => client.send({ type: "consent.decline" }));
document.getElementById("stop").addEventListener("click", () => {
  stopMedia();
  client.send({ type: "consent.revoke" });
});
document.getElementById("reshare").addEventListener("click", async () => {
  try {
    await capture();
  } catch {
    return;
  }
  document.getElementById("reshare-note").hidden = true;
  offer();
});
document.getElementById("control-ok").addEventListener("click", () => {
  client.send({ type: "control.deny" });
  document.getElementById("control-notice").hidden = true;
});
setupChat(client, { selfLabel: "you" });
setupFiles(client, { role: "customer" });

if (["consent_requested", "active"].includes(status)) client.connect();
