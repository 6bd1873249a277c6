// Keeps the signed-in agent marked online while one of the organization's pages is open (heartbeat every 20 s).
import { SignalingClient } from "./signaling.js";

new SignalingClient("/ws/v1/hello").connect();
