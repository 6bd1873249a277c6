// The playback page: the transcript line being spoken is highlighted and kept in view; a line's time seeks to it.
const video = document.getElementById("playback");
const cues = [...document.querySelectorAll("#transcript li")];

if (video && cues.length) {
  let current = null;
  video.addEventListener("timeupdate", () => {
    const now = video.currentTime;
    const cue = cues.find((li) => now >= Number(li.dataset.start) && now < Number(li.dataset.end)) || null;
    if (cue === current) return;
    if (current) current.removeAttribute("aria-current");
    current = cue;
    if (cue) {
      cue.setAttribute("aria-current", "true");
      cue.scrollIntoView({ block: "nearest" });
    }
  });
  for (const li of cues) {
    li.querySelector(".cue-time").addEventListener("click", () => {
      video.currentTime = Number(li.dataset.start);
      video.play();
    });
  }
}
