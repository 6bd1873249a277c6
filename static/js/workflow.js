// The agent's session workflow panel: transfer, private notes, tags, ticket reference (viewer only).

export function setupWorkflow(client) {}
