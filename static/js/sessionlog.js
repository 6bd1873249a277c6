// The viewer's session log, kept up to date without a reload (viewer only): the organization's live socket hints
// when this session changes state, and the session's own socket shows when something the log records happened
// (chat, control, files...). Either way the log is refetched from the server, which applies the access rule.
import { on } from "./signaling.js";
import { rememberTimeZone, watchOrganization, fragmentRefresher } from "./orglive.js";

// Messages after which the server has written a line to the log (ours, or the customer's relayed to us).
const RECORDED = /^(chat|control\.|file\.|state$|agent$|peer$|transfer)/;

export function setupSessionLog(client) {
  const section = document.getElementById("session-log");
  if (!section) return;
  const sessionId = section.dataset.session;
  const url = section.dataset.logUrl;
  const refreshNow = fragmentRefresher(() => url, ["session-log"]);
  let timer = null;
  // Recording happens on the server just after relaying: wait a moment, and fold bursts into one refetch.
  const refresh = (delay = 250) => {
    clearTimeout(timer);
    timer = setTimeout(refreshNow, delay);
  };
  if (rememberTimeZone()) refresh(0);
  watchOrganization(section.dataset.liveWs, (hint) => {
    if (hint.type === "resync" || (hint.type === "sessions.changed" && hint.session === sessionId)) refresh(0);
  });
  if (!client) return;
  for (const type of ["chat", "control.request", "control.grant", "control.deny", "control.revoke", "state", "peer", "agent"]) {
    on(client, type, () => refresh());
  }
  // What this agent sends is recorded too, and never comes back on the socket.
  const send = client.send.bind(client);
  client.send = (message) => {
    const sent = send(message);
    if (message && typeof message.type === "string" && RECORDED.test(message.type)) refresh(400);
    return sent;
  };
}
