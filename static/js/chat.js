// Chat between the agent and the customer (both pages): the lines arrive over the session's signaling socket.
import { on, addChatLine } from "./signaling.js";

export function setupChat(client, { selfLabel }) {
  const chat = document.getElementById("chat");
  const form = document.getElementById("chat-form");
  on(client, "chat", (m) => addChatLine(chat, m.from, m.text, false));
  form?.addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.getElementById("chat-text");
    const text = input.value.trim();
    if (text) {
      client.send({ type: "chat", text });
      addChatLine(chat, selfLabel, text, true);
      input.value = "";
    }
  });
}
