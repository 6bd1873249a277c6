// File transfer between the agent and the customer over the WebRTC data channel (both pages).
// The pages emit "peerconnection" on the signaling client each time they create an RTCPeerConnection.

export function setupFiles(client, { role }) {}
