// The machine list refetches itself when a machine comes online, goes offline or changes (docs/signaling.md,
// the organization's live socket: hints only).
import { fragmentRefresher, watchOrganization } from "./orglive.js";

const section = document.getElementById("machines");
if (section) {
  const refresh = fragmentRefresher(() => location.href, ["machines"]);
  watchOrganization(section.dataset.live, () => refresh());
}
