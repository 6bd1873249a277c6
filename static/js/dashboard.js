// The dashboard and the history page: live sessions, online agents, figures and history follow the organization's
// live socket. A hint names what changed; the page refetches itself and swaps the listed fragments in place.
import { rememberTimeZone, watchOrganization, fragmentRefresher } from "./orglive.js";

const root = document.getElementById("live-page");
if (root) {
  const ids = root.dataset.refresh.split(/\s+/).filter(Boolean);
  const refresh = fragmentRefresher(() => location.href, ids);
  const dot = document.getElementById("live-dot");
  const state = document.getElementById("live-state");
  const showState = (value) => {
    root.dataset.liveState = value;
    if (dot) dot.classList.toggle("on", value === "live");
    if (state) state.textContent = value === "live" ? state.dataset.live : state.dataset.offline;
  };
  if (rememberTimeZone()) refresh(); // first visit: the server rendered UTC; show the viewer's zone
  watchOrganization(root.dataset.liveWs, () => refresh(), showState);
}
