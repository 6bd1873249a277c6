// The meeting room (docs/signaling.md, "Meetings"). One socket per participant carries chat, hands, media states,
// the lobby and the host's controls. Without an SFU the same socket negotiates the mesh: one RTCPeerConnection per
// other participant, the one already in the room offering to the newcomer. With LiveKit, media goes through it
// (livekit-client, vendored) and the socket keeps the rest.

const root = document.getElementById("meeting");
const t = document.getElementById("i18n").dataset;
const $ = (id) => document.getElementById(id);

const state = {
  me: null,
  host: false,
  mode: "mesh",
  iceServers: [],
  peers: new Map(), // participant id -> {peer, pc, tile, hand, media}
  local: null, // MediaStream from the camera and microphone
  screen: null, // MediaStream of a screen being shared
  hand: false,
  ws: null,
  finished: false,
  attempt: 0,
  room: null, // LiveKit's Room
};

function csrf() {
  const field = document.querySelector("[name=csrfmiddlewaretoken]");
  return field ? field.value : "";
}

function problem(answer, response) {
  return (answer && answer.error && answer.error.message) || response.statusText;
}

function note(text) {
  $("meeting-note").textContent = text;
}

// --- Local media ------------------------------------------------------------------------------------------------

async function openLocalMedia() {
  for (const constraints of [{ audio: true, video: true }, { audio: true }, { video: true }]) {
    try {
      return await navigator.mediaDevices.getUserMedia(constraints);
    } catch {
      /* try with less */
    }
  }
  note(t.noMedia);
  return new MediaStream();
}

function audioTrack() {
  return state.local ? state.local.getAudioTracks()[0] : null;
}

function cameraTrack() {
  return state.local ? state.local.getVideoTracks()[0] : null;
}

function sentVideo() {
  return state.screen ? state.screen.getVideoTracks()[0] : cameraTrack();
}

function mediaState() {
  const audio = audioTrack();
  const video = cameraTrack();
  return {
    type: "media",
    audio: Boolean(audio && audio.enabled),
    video: Boolean(video && video.enabled),
    screen: Boolean(state.screen),
  };
}

function refreshButtons() {
  const audio = audioTrack();
  const video = cameraTrack();
  $("mic").textContent = audio && audio.enabled ? t.mute : t.unmute;
  $("mic").setAttribute("aria-pressed", String(Boolean(audio && audio.enabled)));
  $("mic").disabled = !audio;
  $("cam").textContent = video && video.enabled ? t.stopVideo : t.startVideo;
  $("cam").setAttribute("aria-pressed", String(Boolean(video && video.enabled)));
  $("cam").disabled = !video;
  $("share").textContent = state.screen ? t.stopShare : t.share;
  $("share").setAttribute("aria-pressed", String(Boolean(state.screen)));
  $("hand").textContent = state.hand ? t.lower : t.raise;
  $("hand").setAttribute("aria-pressed", String(state.hand));
  const mine = mediaState();
  $("me-state").textContent = [mine.audio ? "" : t.muted, mine.screen ? t.sharing : "", state.hand ? t.handUp : ""]
    .filter(Boolean)
    .join(" · ");
}

// --- Tiles and the people list ----------------------------------------------------------------------------------

function tileFor(entry) {
  if (entry.tile) return entry.tile;
  const figure = document.createElement("figure");
  figure.className = "tile";
  figure.dataset.peer = entry.peer.id;
  const video = document.createElement("video");
  video.autoplay = true;
  video.playsInline = true;
  const caption = document.createElement("figcaption");
  const name = document.createElement("span");
  name.className = "tile-name";
  name.textContent = entry.peer.name;
  const status = document.createElement("span");
  status.className = "tile-state";
  caption.append(name, " ", status);
  figure.append(video, caption);
  $("grid").append(figure);
  entry.tile = figure;
  return figure;
}

function renderPeer(entry) {
  const tile = tileFor(entry);
  const media = entry.media || {};
  const states = [media.audio === false ? t.muted : "", media.screen ? t.sharing : "", entry.hand ? t.handUp : ""];
  const shown = states.filter(Boolean).join(" · ");
  tile.querySelector(".tile-state").textContent = shown ? `· ${shown}` : "";
  tile.classList.toggle("hand", Boolean(entry.hand));
  renderPeople();
}

function renderPeople() {
  const list = $("people");
  list.replaceChildren();
  const everyone = [{ peer: state.me, me: true, hand: state.hand }, ...state.peers.values()];
  for (const entry of everyone) {
    if (!entry.peer) continue;
    const item = document.createElement("li");
    item.dataset.peer = entry.peer.id;
    const name = document.createElement("span");
    name.textContent = entry.me ? `${entry.peer.name} (${t.you})` : entry.peer.name;
    item.append(name);
    if (entry.peer.role === "host") item.append(" ", badge(t.host));
    if (entry.peer.role === "guest") item.append(" ", badge(t.guest));
    if (entry.hand) item.append(" ", badge(t.handUp, "hand"));
    if (state.host && !entry.me) {
      const actions = document.createElement("span");
      actions.className = "person-actions";
      actions.append(button(t.muteThem, () => muteThem(entry.peer), "mute"));
      if (entry.peer.role !== "host") {
        actions.append(button(t.remove, () => send({ type: "remove", participant: entry.peer.id }), "remove"));
      }
      item.append(actions);
    }
    list.append(item);
  }
  $("people-count").textContent = `(${everyone.filter((e) => e.peer).length})`;
}

function muteThem(peer) {
  const message = { type: "mute", participant: peer.id };
  if (state.room) {
    // LiveKit mutes a published track: name the participant's microphone.
    const remote = state.room.remoteParticipants.get(peer.identity);
    const publication = remote && remote.getTrackPublication(window.LivekitClient.Track.Source.Microphone);
    if (!publication) return;
    message.track_sid = publication.trackSid;
  }
  send(message);
}

function badge(text, kind = "") {
  const span = document.createElement("span");
  span.className = kind ? `badge ${kind}` : "badge";
  span.textContent = text;
  return span;
}

function button(text, onClick, action) {
  const element = document.createElement("button");
  element.type = "button";
  element.className = "button secondary small";
  element.textContent = text;
  element.dataset.action = action;
  element.addEventListener("click", onClick);
  return element;
}

function renderLobby(waiting) {
  const list = $("lobby");
  list.replaceChildren();
  for (const person of waiting) {
    const item = document.createElement("li");
    item.dataset.participant = person.id;
    const name = document.createElement("span");
    name.textContent = person.name;
    item.append(
      name,
      " ",
      button(t.admit, () => send({ type: "admit", participant: person.id }), "admit"),
      " ",
      button(t.deny, () => send({ type: "remove", participant: person.id }), "deny"),
    );
    list.append(item);
  }
  $("lobby-empty").hidden = waiting.length > 0;
}

function addChat(line) {
  const item = document.createElement("li");
  item.className = state.me && line.from === state.me.id ? "mine" : "theirs";
  const who = document.createElement("strong");
  who.textContent = line.name;
  const text = document.createElement("span");
  text.textContent = line.text;
  item.append(who, " ", text);
  $("chat").append(item);
  $("chat").scrollTop = $("chat").scrollHeight;
}

// --- The mesh ---------------------------------------------------------------------------------------------------

function peerConnection(entry) {
  if (entry.pc) return entry.pc;
  const pc = new RTCPeerConnection({ iceServers: state.iceServers });
  entry.pc = pc;
  for (const track of state.local.getTracks()) {
    const sent = track.kind === "video" ? sentVideo() : track;
    pc.addTrack(sent, state.local);
  }
  if (!cameraTrack()) pc.addTransceiver("video", { direction: "recvonly" });
  if (!audioTrack()) pc.addTransceiver("audio", { direction: "recvonly" });
  pc.addEventListener("icecandidate", (event) => {
    send({ type: "signal", to: entry.peer.id, candidate: event.candidate ? event.candidate.toJSON() : null });
  });
  pc.addEventListener("track", (event) => {
    const video = tileFor(entry).querySelector("video");
    const stream = event.streams[0] || new MediaStream([event.track]);
    if (video.srcObject !== stream) video.srcObject = stream;
  });
  pc.addEventListener("connectionstatechange", () => {
    tileFor(entry).dataset.connection = pc.connectionState;
  });
  return pc;
}

async function offerTo(entry) {
  const pc = peerConnection(entry);
  await pc.setLocalDescription(await pc.createOffer());
  send({ type: "signal", to: entry.peer.id, description: pc.localDescription.toJSON() });
}

let chain = Promise.resolve();
function serially(work) {
  chain = chain.then(work).catch((error) => console.warn("meeting: signaling step failed", error));
}

async function onSignal(message) {
  const entry = state.peers.get(message.from);
  if (!entry) return;
  const pc = peerConnection(entry);
  if (message.description) {
    await pc.setRemoteDescription(message.description);
    for (const candidate of entry.pending || []) await pc.addIceCandidate(candidate);
    entry.pending = [];
    if (message.description.type === "offer") {
      await pc.setLocalDescription(await pc.createAnswer());
      send({ type: "signal", to: entry.peer.id, description: pc.localDescription.toJSON() });
    }
  } else if (message.candidate) {
    if (!pc.remoteDescription) (entry.pending ||= []).push(message.candidate);
    else await pc.addIceCandidate(message.candidate);
  }
}

function dropPeer(id) {
  const entry = state.peers.get(id);
  if (!entry) return;
  if (entry.pc) entry.pc.close();
  if (entry.tile) entry.tile.remove();
  state.peers.delete(id);
  renderPeople();
}

function replaceVideo(track) {
  for (const entry of state.peers.values()) {
    if (!entry.pc) continue;
    const sender = entry.pc.getSenders().find((s) => s.track && s.track.kind === "video");
    if (sender) {
      sender.replaceTrack(track);
      continue;
    }
    // Joined without a camera: the video transceiver only received until now; it sends the screen from here on,
    // which needs a new offer from this side.
    const transceiver = entry.pc.getTransceivers().find((x) => x.receiver.track.kind === "video");
    if (!transceiver || !track) {
      if (transceiver) transceiver.sender.replaceTrack(null);
      continue;
    }
    transceiver.direction = "sendrecv";
    serially(async () => {
      await transceiver.sender.replaceTrack(track);
      await offerTo(entry);
    });
  }
  if (state.room) return;
  $("local-video").srcObject = new MediaStream(track ? [track] : []);
}

// --- LiveKit ----------------------------------------------------------------------------------------------------

async function connectLiveKit(livekit) {
  const LK = window.LivekitClient;
  const room = new LK.Room({ adaptiveStream: true, dynacast: true });
  state.room = room;
  room.on(LK.RoomEvent.TrackSubscribed, (track, _publication, participant) => {
    const entry = [...state.peers.values()].find((e) => e.peer.identity === participant.identity);
    if (!entry || track.kind === "audio") {
      if (track.kind === "audio") track.attach();
      return;
    }
    track.attach(tileFor(entry).querySelector("video"));
  });
  await room.connect(livekit.url, livekit.token);
  for (const track of state.local.getTracks()) {
    const source = track.kind === "audio" ? LK.Track.Source.Microphone : LK.Track.Source.Camera;
    await room.localParticipant.publishTrack(track, { source });
  }
}

// --- The socket -------------------------------------------------------------------------------------------------

function send(message) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(message));
}

function finish(title, detail) {
  state.finished = true;
  for (const id of [...state.peers.keys()]) dropPeer(id);
  if (state.room) state.room.disconnect();
  for (const track of [...(state.local ? state.local.getTracks() : []), ...(state.screen ? state.screen.getTracks() : [])]) {
    track.stop();
  }
  $("room").hidden = true;
  $("over").hidden = false;
  $("over-title").textContent = title;
  $("over-detail").textContent = detail || "";
  if (state.ws) state.ws.close();
}

function connectSocket(url, livekit) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}${url}`);
  state.ws = ws;
  let refusal = null;
  ws.addEventListener("open", () => {
    state.attempt = 0;
    state.heartbeat = setInterval(() => send({ type: "ping" }), 20000);
  });
  ws.addEventListener("message", (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    handle(message, livekit);
    if (message.type === "error" && ["removed_from_meeting", "meeting_locked", "meeting_full", "meeting_ended", "in_lobby"].includes(message.code)) {
      refusal = message;
    }
  });
  ws.addEventListener("close", (event) => {
    clearInterval(state.heartbeat);
    if (state.finished) return;
    if (event.code === 4403 || event.code === 4404 || event.code === 4401) {
      finish(refusal && refusal.code === "removed_from_meeting" ? t.removed : t.refused, refusal ? refusal.message : "");
      return;
    }
    if (event.code === 4410) {
      finish(t.ended);
      return;
    }
    $("connection").textContent = t.reconnecting;
    for (const id of [...state.peers.keys()]) dropPeer(id);
    state.attempt += 1;
    setTimeout(() => connectSocket(url, livekit), Math.min(500 * 2 ** state.attempt, 8000));
  });
}

function handle(message, livekit) {
  switch (message.type) {
    case "welcome": {
      state.me = message.you;
      state.host = message.host;
      state.mode = message.meeting.mode;
      state.iceServers = message.ice_servers || [];
      $("meeting-title").textContent = message.meeting.title;
      document.title = message.meeting.title;
      $("room").hidden = false;
      $("connection").textContent = t.connected;
      $("connection").classList.add("ok");
      for (const element of document.querySelectorAll(".host-only")) element.hidden = !state.host;
      // Only the SFU can record a meeting: no server sees a mesh's media.
      for (const element of document.querySelectorAll(".sfu-only")) element.hidden ||= state.mode !== "livekit";
      setRecording(message.recording);
      // A guest shares a screen only where the host allowed it (the server refuses it otherwise).
      $("share").hidden = state.me.role === "guest" && !message.meeting.guests_may_share_screen;
      setLocked(message.meeting.locked);
      if (state.mode === "mesh") note(t.sfu.replace("%(n)s", message.meeting.max_participants));
      $("chat").replaceChildren();
      for (const line of message.chat) addChat(line);
      if (state.host) renderLobby(message.lobby);
      send(mediaState());
      renderPeople();
      if (state.mode === "livekit" && livekit && !state.room) {
        connectLiveKit(livekit).catch((error) => {
          console.warn("meeting: LiveKit connection failed", error);
          state.room = null;
          note(t.sfuDown);
          $("connection").textContent = t.sfuDownShort;
          $("connection").classList.remove("ok");
          $("connection").classList.add("warn");
        });
      }
      break;
    }
    case "peer.joined":
    case "peer.here": {
      const entry = { peer: message.peer, pending: [] };
      dropPeer(message.peer.id); // a reconnect: its old connection is gone
      state.peers.set(message.peer.id, entry);
      renderPeer(entry);
      if (message.type === "peer.joined") {
        send(mediaState());
        if (state.hand) send({ type: "hand", raised: true });
        if (state.mode === "mesh") serially(() => offerTo(entry));
      }
      break;
    }
    case "peer.left":
      dropPeer(message.peer);
      break;
    case "signal":
      serially(() => onSignal(message));
      break;
    case "chat":
      addChat(message);
      break;
    case "hand":
    case "media": {
      const entry = state.peers.get(message.from);
      if (!entry) break;
      if (message.type === "hand") entry.hand = message.raised;
      else entry.media = message;
      renderPeer(entry);
      break;
    }
    case "lobby":
      renderLobby(message.waiting);
      break;
    case "locked":
      setLocked(message.locked);
      break;
    case "recording":
      setRecording(message.state === "started");
      break;
    case "muted": {
      const audio = audioTrack();
      if (audio) audio.enabled = false;
      if (state.room) state.room.localParticipant.setMicrophoneEnabled(false);
      note(t.mutedByHost);
      refreshButtons();
      send(mediaState());
      break;
    }
    case "ended":
      finish(t.ended);
      break;
    case "error":
      if (!["removed_from_meeting", "in_lobby"].includes(message.code)) note(message.message);
      break;
  }
}

function setRecording(on) {
  state.recording = Boolean(on);
  $("meeting-rec").hidden = !state.recording;
  $("record").textContent = state.recording ? t.stopRecord : t.record;
}

function setLocked(locked) {
  state.locked = locked;
  $("locked-badge").hidden = !locked;
  $("lock").textContent = locked ? t.unlock : t.lock;
}

// --- Controls ---------------------------------------------------------------------------------------------------

function wireControls() {
  $("mic").addEventListener("click", () => {
    const audio = audioTrack();
    if (!audio) return;
    audio.enabled = !audio.enabled;
    if (state.room) state.room.localParticipant.setMicrophoneEnabled(audio.enabled);
    refreshButtons();
    send(mediaState());
  });
  $("cam").addEventListener("click", () => {
    const video = cameraTrack();
    if (!video) return;
    video.enabled = !video.enabled;
    refreshButtons();
    send(mediaState());
  });
  $("share").addEventListener("click", async () => {
    if (state.screen) {
      stopSharing();
      return;
    }
    try {
      state.screen = await navigator.mediaDevices.getDisplayMedia({ video: true });
    } catch {
      return;
    }
    const track = state.screen.getVideoTracks()[0];
    track.addEventListener("ended", stopSharing);
    if (state.room) await state.room.localParticipant.publishTrack(track, { source: window.LivekitClient.Track.Source.ScreenShare });
    else replaceVideo(track);
    refreshButtons();
    send(mediaState());
  });
  $("hand").addEventListener("click", () => {
    state.hand = !state.hand;
    send({ type: "hand", raised: state.hand });
    refreshButtons();
    renderPeople();
  });
  $("lock").addEventListener("click", () => send({ type: "lock", locked: !state.locked }));
  $("record").addEventListener("click", () => send({ type: "record", on: !state.recording }));
  $("end-all").addEventListener("click", () => {
    if (confirm(t.confirmEnd)) send({ type: "end" });
  });
  $("leave").addEventListener("click", () => finish(t.left));
  $("chat-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("chat-text").value.trim();
    if (!text) return;
    send({ type: "chat", text });
    $("chat-text").value = "";
  });
}

function stopSharing() {
  if (!state.screen) return;
  const track = state.screen.getVideoTracks()[0];
  for (const each of state.screen.getTracks()) each.stop();
  if (state.room) state.room.localParticipant.unpublishTrack(track);
  state.screen = null;
  replaceVideo(cameraTrack());
  refreshButtons();
  send(mediaState());
}

// --- Start ------------------------------------------------------------------------------------------------------

async function startMember() {
  let livekit = null;
  if (root.dataset.livekit) {
    const response = await fetch(root.dataset.tokenUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: "{}",
      credentials: "same-origin",
    });
    const answer = await response.json();
    if (!response.ok) {
      finish(t.refused, problem(answer, response));
      return;
    }
    livekit = answer.livekit;
  }
  connectSocket(root.dataset.socket, livekit);
}

async function startGuest() {
  const invite = decodeURIComponent(location.hash.slice(1));
  const key = `meeting-guest:${invite.slice(-12)}`;
  const form = $("guest-form");
  const error = $("guest-error");
  const ask = async (body) => {
    const response = await fetch(root.dataset.guestApi, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ invite, ...body }),
      credentials: "omit",
    });
    return [response, await response.json()];
  };
  const poll = async (token) => {
    const [response, answer] = await ask({ guest_token: token });
    if (!response.ok) {
      const removed = answer && answer.error && answer.error.code === "removed_from_meeting";
      if (!removed) sessionStorage.removeItem(key); // removed stays removed in this browser, reload or not
      form.hidden = removed;
      $("guest-waiting").hidden = true;
      error.hidden = false;
      error.textContent = problem(answer, response);
      return;
    }
    if (answer.state === "admitted") {
      $("guest-start").hidden = true;
      connectSocket(`${answer.socket.url}?guest_token=${encodeURIComponent(token)}`, answer.livekit);
      return;
    }
    setTimeout(() => poll(token), 2000);
  };
  if (!invite) {
    form.hidden = true;
    error.hidden = false;
    error.textContent = $("guest-note").dataset.noInvite || "This page needs the invite link you were sent.";
    return;
  }
  // Who invites, to what: shown before the guest gives a name. A wrong link says so and asks nothing.
  const preview = await fetch(root.dataset.inviteApi, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ invite }),
    credentials: "omit",
  });
  const meeting = await preview.json();
  if (!preview.ok) {
    form.hidden = true;
    error.hidden = false;
    error.textContent = problem(meeting, preview);
    return;
  }
  $("guest-title").textContent = meeting.title;
  const who = $("guest-who");
  who.textContent = who.dataset.text.replace("{host}", meeting.host).replace("{organization}", meeting.organization);
  if (meeting.scheduled_start && meeting.status === "scheduled") {
    who.textContent += " " + who.dataset.scheduled.replace("{time}", new Date(meeting.scheduled_start).toLocaleString());
  }
  who.hidden = false;
  const saved = sessionStorage.getItem(key);
  if (saved) {
    form.hidden = true;
    $("guest-waiting").hidden = false;
    poll(saved);
    return;
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    const [response, answer] = await ask({ name: $("guest-name").value });
    if (!response.ok) {
      error.hidden = false;
      error.textContent = problem(answer, response);
      return;
    }
    sessionStorage.setItem(key, answer.guest_token);
    form.hidden = true;
    $("guest-waiting").hidden = false;
    poll(answer.guest_token);
  });
}

async function main() {
  wireControls();
  state.local = await openLocalMedia();
  $("local-video").srcObject = state.local;
  refreshButtons();
  if (root.dataset.guestApi) await startGuest();
  else await startMember();
}

main();
