// Remote control of a machine running the desktop agent (docs/remote-control.md).
//
// The agent opens two data channels beside the screen: "control" (its monitors, clipboard, Ctrl+Alt+Del, fetching a
// file) and "input" (pointer and keys). A browser customer opens neither, so the panel appears only when a desktop
// agent is on the other end. Pointer positions are sent in the remote screen's own pixels; the agent checks every
// event again (range and rate) before it touches the machine.
import { on } from "./signaling.js";

const NAMED_KEYS = new Set([
  "Enter", "Tab", "Backspace", "Escape", "Delete", "Insert", "Home", "End", "PageUp", "PageDown",
  "ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "Shift", "Control", "Alt", "Meta", "CapsLock",
  "ContextMenu", "PrintScreen", "Pause", "NumLock", "ScrollLock",
  "F1", "F2", "F3", "F4", "F5", "F6", "F7", "F8", "F9", "F10", "F11", "F12",
]);
const BUTTONS = ["left", "middle", "right"];

export function setupRemote(client, { root, video, surface }) {
  const panel = document.getElementById("remote");
  if (!panel) return;
  const say = (name, values = {}) =>
    (panel.dataset[name] || "").replace(/\{(\w+)\}/g, (match, key) => values[key] ?? match);
  const toggle = document.getElementById("control-toggle");
  const status = document.getElementById("remote-status");
  const machine = document.getElementById("remote-machine");
  const monitorPick = document.getElementById("monitor");
  const monitorRow = document.getElementById("monitor-row");
  const sas = document.getElementById("sas");
  const clipText = document.getElementById("clip-text");
  let input = null;
  let control = null;
  let screen = null; // the agent's last "screen" message
  let granted = false;
  let controlling = false;
  let pendingMove = null;
  const held = new Set(); // keys down on the machine, released when control stops

  function send(channel, message) {
    if (channel && channel.readyState === "open") channel.send(JSON.stringify(message));
  }
  function tell(text) {
    status.textContent = text;
  }

  function render() {
    panel.hidden = !screen;
    root.dataset.remote = screen ? "1" : "";
    const filesNote = document.getElementById("files-note");
    if (screen && filesNote?.dataset.machine) filesNote.textContent = filesNote.dataset.machine;
    document.getElementById("request-control")?.toggleAttribute("hidden", Boolean(screen));
    if (!screen) return;
    const os = { linux: "Linux", windows: "Windows", macos: "macOS" }[screen.os] || screen.os;
    machine.textContent = say("machine", { os, width: screen.width, height: screen.height });
    toggle.setAttribute("aria-pressed", String(controlling));
    toggle.textContent = controlling ? say("stop") : say("take");
    toggle.disabled = !screen.capabilities?.input;
    surface.classList.toggle("controlling", controlling);
    sas.hidden = !screen.capabilities?.sas;
    for (const id of ["sas", "clip-send", "clip-get", "fetch-go"]) document.getElementById(id).disabled = !granted;
    monitorRow.hidden = (screen.monitors || []).length < 2;
    monitorPick.replaceChildren(...(screen.monitors || []).map((m) => {
      const option = new Option(say("monitorName", { index: m.index, width: m.width, height: m.height }), m.index);
      option.selected = m.index === screen.monitor;
      return option;
    }));
    monitorPick.disabled = !granted;
  }

  function releaseAll() {
    for (const key of held) send(input, { t: "key", key, down: false });
    held.clear();
  }

  function setControlling(next) {
    if (!next) releaseAll();
    controlling = next;
    if (next) surface.focus();
    render();
  }

  on(client, "peerconnection", ({ pc }) => {
    pc.addEventListener("datachannel", (event) => {
      const channel = event.channel;
      if (channel.label === "input") {
        input = channel;
        channel.addEventListener("message", (m) => {
          const message = JSON.parse(m.data);
          if (message.t === "error") tell(say("inputError", { message: message.message }));
        });
      }
      if (channel.label !== "control") return;
      control = channel;
      channel.addEventListener("message", (m) => {
        const message = JSON.parse(m.data);
        if (message.t === "screen") {
          screen = message;
          granted = granted || Boolean(message.control);
          render();
        } else if (message.t === "clipboard") {
          clipText.value = message.text;
          navigator.clipboard?.writeText(message.text).then(
            () => tell(say("clipCopied", { count: message.text.length })),
            () => tell(say("clipShown", { count: message.text.length })),
          );
        } else if (message.t === "clipboard.set") {
          tell(say("clipSent", { count: message.length }));
        } else if (message.t === "sas") {
          tell(say("sasSent"));
        } else if (message.t === "error") {
          tell(message.message);
        }
      });
      channel.addEventListener("close", () => {
        if (control !== channel) return;
        screen = null;
        controlling = false;
        render();
      });
    });
  });

  on(client, "control.grant", () => {
    granted = true;
    tell(say("granted"));
    setControlling(true);
  });
  on(client, "control.deny", () => {
    granted = false;
    tell(say("denied"));
    setControlling(false);
  });
  on(client, "state", (m) => {
    if (m.status !== "active") setControlling(false);
  });

  toggle.addEventListener("click", () => {
    if (controlling) return setControlling(false);
    if (granted) return setControlling(true);
    client.send({ type: "control.request" });
    tell(say("asking"));
  });
  monitorPick.addEventListener("change", () => send(control, { t: "monitor", index: Number(monitorPick.value) }));
  sas.addEventListener("click", () => send(control, { t: "sas" }));
  document.getElementById("clip-send").addEventListener("click", async () => {
    let text = clipText.value;
    if (!text) {
      try {
        text = await navigator.clipboard.readText();
      } catch {
        return tell(say("clipPaste"));
      }
    }
    if (text) send(control, { t: "clipboard", text });
  });
  document.getElementById("clip-get").addEventListener("click", () => send(control, { t: "clipboard.get" }));
  document.getElementById("fetch-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const path = document.getElementById("fetch-path").value.trim();
    if (path) send(control, { t: "file.get", path });
    tell(say("fetching", { path }));
  });

  // --- pointer and keys on the screen -----------------------------------------------------------------------
  function remotePoint(event) {
    if (!screen || !video.videoWidth) return null;
    const box = video.getBoundingClientRect();
    const scale = Math.min(box.width / video.videoWidth, box.height / video.videoHeight);
    const left = box.left + (box.width - video.videoWidth * scale) / 2;
    const top = box.top + (box.height - video.videoHeight * scale) / 2;
    // The picture's pixels are the monitor's (a smaller encode is scaled back by the ratio).
    const x = Math.floor(((event.clientX - left) / scale) * (screen.width / video.videoWidth));
    const y = Math.floor(((event.clientY - top) / scale) * (screen.height / video.videoHeight));
    if (x < 0 || y < 0 || x >= screen.width || y >= screen.height) return null;
    return { x, y };
  }

  video.addEventListener("pointermove", (event) => {
    if (!controlling) return;
    const point = remotePoint(event);
    if (!point) return;
    if (!pendingMove) requestAnimationFrame(() => {
      send(input, { t: "move", ...pendingMove });
      pendingMove = null;
    });
    pendingMove = point;
  });
  for (const [type, down] of [["pointerdown", true], ["pointerup", false]]) {
    video.addEventListener(type, (event) => {
      if (!controlling) return;
      const point = remotePoint(event);
      const button = BUTTONS[event.button];
      if (!point || !button) return;
      event.preventDefault();
      surface.focus();
      send(input, { t: "button", button, down, ...point });
    });
  }
  video.addEventListener("contextmenu", (event) => { if (controlling) event.preventDefault(); });
  video.addEventListener("wheel", (event) => {
    if (!controlling) return;
    event.preventDefault();
    const steps = (delta) => (delta === 0 ? 0 : Math.sign(delta) * Math.min(5, Math.max(1, Math.round(Math.abs(delta) / 100))));
    send(input, { t: "wheel", dx: steps(event.deltaX), dy: steps(event.deltaY) });
  }, { passive: false });
  for (const [type, down] of [["keydown", true], ["keyup", false]]) {
    surface.addEventListener(type, (event) => {
      if (!controlling) return;
      const key = event.key;
      if (!(NAMED_KEYS.has(key) || (key.length === 1))) return; // Dead, Unidentified, AltGraph...: nothing to send
      event.preventDefault();
      if (down) held.add(key);
      else held.delete(key);
      send(input, { t: "key", key, down });
    });
  }
  surface.addEventListener("blur", releaseAll); // no key stays down on the machine when focus leaves
  document.addEventListener("fullscreenchange", () => {
    if (document.fullscreenElement && controlling) navigator.keyboard?.lock?.().catch(() => {});
    else navigator.keyboard?.unlock?.();
  });
  render();
}
