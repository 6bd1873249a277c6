// The organization's live socket (/ws/v1/orgs/<slug>/live, docs/signaling.md): hints only. A page refetches its
// own fragments from the server, which applies the session access rule; nothing but ids crosses this socket.
import { SignalingClient, on } from "./signaling.js";

const TZ_COOKIE = "tz";

// The viewer's time zone, detected by the browser and kept in a cookie the server reads (connect.timezone).
// Returns true when the cookie changed (the page then refetches, so times already shown follow the zone).
export function rememberTimeZone() {
  let zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch {
    return false;
  }
  if (!zone || !/^[A-Za-z0-9_+\-/]+$/.test(zone)) return false;
  const current = document.cookie.split("; ").find((c) => c.startsWith(`${TZ_COOKIE}=`));
  if (current && current.slice(TZ_COOKIE.length + 1) === zone) return false;
  const secure = location.protocol === "https:" ? "; Secure" : "";
  document.cookie = `${TZ_COOKIE}=${zone}; Path=/; Max-Age=31536000; SameSite=Lax${secure}`;
  return true;
}

// Open the live socket; onHint(message) for each hint, onState("live" | "offline") as the socket comes and goes.
export function watchOrganization(path, onHint, onState = () => {}) {
  const client = new SignalingClient(path);
  on(client, "hello", () => onState("live"));
  on(client, "sessions.changed", onHint);
  on(client, "agents.changed", onHint);
  on(client, "machines.changed", onHint);
  on(client, "reconnecting", () => onState("offline"));
  on(client, "closed", () => onState("offline"));
  // Hints sent while the socket was not open are lost: after a reconnect, and between the page being rendered and
  // its socket's first open (a customer joining in that gap). Refetch once on every open to catch up.
  on(client, "open", () => onHint({ type: "resync" }));
  client.connect();
  return client;
}

// Refetch `url` and replace the elements with these ids by the server's fresh ones. Calls made while one runs
// are folded into one more run, so a burst of hints costs at most two requests.
export function fragmentRefresher(urlOf, ids, afterSwap = () => {}) {
  let running = false;
  let again = false;
  async function run() {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      const response = await fetch(urlOf(), { headers: { Accept: "text/html" }, credentials: "same-origin" });
      if (response.ok) {
        const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
        for (const id of ids) {
          const now = document.getElementById(id);
          const next = fresh.getElementById(id);
          if (now && next) now.replaceWith(document.importNode(next, true));
        }
        afterSwap();
      }
    } catch {
      // Offline for a moment: the next hint or reconnect refetches.
    } finally {
      running = false;
      if (again) {
        again = false;
        run();
      }
    }
  }
  return run;
}
