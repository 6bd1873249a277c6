// The viewer's session log, kept up to date without a reload (viewer only).

export function setupSessionLog(client) {}
