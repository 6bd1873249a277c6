// The session workflow on both pages (sessions/workflow.py): the agent's panel (transfer, notes, tags, ticket,
// rating) and, on the customer's page, the name of the agent now helping them after a transfer.
import { on } from "./signaling.js";

function text(template, name) {
  return (template || "%(name)s").replace("%(name)s", name);
}

function strings() {
  const template = document.getElementById("workflow-i18n");
  return template ? template.dataset : {};
}

// The agent's viewer. A transfer away closes this viewer's socket (error session_transferred, close 4403): say so,
// stop reconnecting, and disable what only the session's agent may do.
export function setupWorkflow(client) {
  const t = strings();
  const notice = document.getElementById("workflow-transferred");
  on(client, "error", (m) => {
    if (m.code !== "session_transferred") return;
    client.stop();
    const name = (m.agent && m.agent.name) || "";
    if (notice) {
      notice.textContent = text(t.transferred, name);
      notice.hidden = false;
    }
    document.getElementById("transfer-form")?.remove();
    for (const control of document.querySelectorAll("#end, #request-control, #chat-form button, #chat-form textarea, #chat-form input")) {
      control.disabled = true;
    }
    // The screen is no longer this agent's to see: drop the peer connection (the customer re-offers to the new agent).
    window.connectViewer?.pc?.close();
    const video = document.getElementById("screen");
    if (video) video.srcObject = null;
    const placeholder = document.getElementById("placeholder");
    if (placeholder) {
      placeholder.textContent = text(t.transferred, name);
      placeholder.hidden = false;
    }
    const connection = document.getElementById("connection");
    if (connection) connection.hidden = true;
    document.getElementById("quality")?.replaceChildren();
    showAgent(t, name);
  });
  on(client, "agent", (m) => showAgent(t, m.name));

  // Transfer in place, through the API: this page stays open, so the agent sees the server's word that the session
  // moved (the socket's session_transferred). Without JavaScript the form posts to the page view instead.
  const form = document.getElementById("transfer-form");
  const root = document.getElementById("viewer");
  form?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    const select = form.querySelector("select");
    if (!select.value) return;
    button.disabled = true;
    let problem = "";
    try {
      const response = await fetch(`/api/v1/sessions/${root.dataset.session}/transfer`, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value,
          "X-Organization": form.dataset.org,
        },
        body: JSON.stringify({ agent_id: select.value }),
      });
      if (!response.ok) problem = (await response.json()).error?.message || response.statusText;
    } catch (error) {
      problem = String(error);
    }
    if (problem && notice) {
      notice.textContent = problem;
      notice.hidden = false;
      button.disabled = false;
    }
  });
}

function showAgent(t, name) {
  const line = document.querySelector(".viewer-head p.muted");
  if (line && name) line.textContent = text(t.agent, name);
}

// The customer's page: the session was handed to another agent; they stay connected.
export function setupCustomerWorkflow(client) {
  const t = strings();
  on(client, "agent", (m) => {
    if (!m.name) return;
    for (const element of document.querySelectorAll("[data-agent-name], #consent strong:first-of-type")) {
      element.textContent = m.name;
    }
    let notice = document.getElementById("agent-changed");
    if (!notice) {
      notice = document.createElement("p");
      notice.id = "agent-changed";
      notice.className = "notice agent-changed";
      notice.setAttribute("role", "status");
      document.getElementById("customer")?.prepend(notice);
    }
    notice.textContent = text(t.agentNow, m.name);
  });
}
