// Buttons with data-copy put their text on the clipboard (or select the text beside them when it is refused).
for (const button of document.querySelectorAll("[data-copy]")) {
  const label = button.textContent;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(button.dataset.copy);
      button.textContent = button.dataset.copied || "Copied";
      setTimeout(() => (button.textContent = label), 2000);
    } catch {
      window.getSelection().selectAllChildren(button.previousElementSibling);
    }
  });
}
