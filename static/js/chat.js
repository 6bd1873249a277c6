// Chat between the agent and the customer (both pages). The history is rendered by the server into #chat; new lines
// arrive over the session's signaling socket as `chat` messages (docs/signaling.md, "Chat"): the peer's lines, and our
// own echoed back once the server has kept them, each with its id, the sender's name and the server's time. A line is
// shown when the server has it, never before: what is on screen is what the transcript holds.
import { on } from "./signaling.js";

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" });
const numberFormat = new Intl.NumberFormat();

function localize(time) {
  const moment = new Date(time.getAttribute("datetime"));
  if (Number.isNaN(moment.getTime())) return;
  time.textContent = timeFormat.format(moment);
  time.title = fullFormat.format(moment);
}

function lineElement(message, mine) {
  const item = document.createElement("li");
  item.className = `chat-line ${mine ? "mine" : "theirs"}`;
  item.dataset.id = message.id || "";
  const meta = document.createElement("span");
  meta.className = "chat-meta";
  const name = document.createElement("strong");
  name.className = "chat-name";
  name.textContent = message.name || message.from;
  const time = document.createElement("time");
  time.setAttribute("datetime", message.at || new Date().toISOString());
  localize(time);
  meta.append(name, " ", time);
  const text = document.createElement("span");
  text.className = "chat-text";
  text.textContent = message.text;
  item.append(meta, " ", text);
  return item;
}

export function setupChat(client) {
  const list = document.getElementById("chat");
  if (!list) return;
  const role = list.dataset.self;
  const empty = document.getElementById("chat-empty");
  const form = document.getElementById("chat-form");
  const input = document.getElementById("chat-text");
  const counter = document.getElementById("chat-count");
  const note = document.getElementById("chat-note");
  const send = document.getElementById("chat-send");
  const seen = new Set();
  for (const item of list.querySelectorAll("li[data-id]")) seen.add(item.dataset.id);
  for (const time of list.querySelectorAll("time[datetime]")) localize(time);
  list.scrollTop = list.scrollHeight;

  on(client, "chat", (message) => {
    if (message.id && seen.has(message.id)) return; // replayed after a reconnect: already shown
    if (message.id) seen.add(message.id);
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.append(lineElement(message, message.from === role));
    if (empty) empty.hidden = true;
    if (atBottom || message.from === role) list.scrollTop = list.scrollHeight;
  });

  if (!form || !input) return;
  const max = Number(form.dataset.max) || 2000;
  const warn = Number(form.dataset.warn) || max - 200;
  let unsent = ""; // the last line sent, put back if the server refuses it

  function showNote(text) {
    note.textContent = text || "";
    note.hidden = !text;
  }

  function count() {
    const length = input.value.trim().length;
    counter.textContent = `${numberFormat.format(length)} / ${numberFormat.format(max)}`;
    counter.classList.toggle("near", length >= warn && length <= max);
    counter.classList.toggle("over", length > max);
    send.disabled = form.classList.contains("closed") || length > max;
    if (length > max) {
      showNote(form.dataset.over.replace("{over}", numberFormat.format(length - max)));
      note.dataset.kind = "over";
    } else if (note.dataset.kind === "over") {
      showNote("");
      note.dataset.kind = "";
    }
  }

  input.addEventListener("input", count);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || text.length > max || form.classList.contains("closed")) return;
    client.send({ type: "chat", text });
    unsent = text;
    input.value = "";
    showNote("");
    count();
  });
  on(client, "chat", (message) => {
    if (message.from === role && message.text === unsent) unsent = "";
  });
  on(client, "error", (message) => {
    if (!unsent || !["rate_limited", "invalid_message", "invalid_state"].includes(message.code)) return;
    if (!input.value) input.value = unsent; // refused: nothing is lost, the line is back in the box
    unsent = "";
    showNote(message.code === "rate_limited" ? form.dataset.rateLimited : `${form.dataset.refused} ${message.message}`);
    count();
  });

  function close() {
    form.classList.add("closed");
    input.disabled = true;
    send.disabled = true;
    showNote(form.dataset.closed);
  }
  on(client, "state", (message) => {
    if (["ended", "declined", "expired"].includes(message.status)) close();
  });
  on(client, "hello", (message) => {
    if (["ended", "declined", "expired"].includes(message.session?.status)) close();
  });
  count();
}
