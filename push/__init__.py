"""Push notifications for the native apps: a phone cannot hold a WebSocket in the background, so what an agent must
not miss (a customer waiting, a session handed to them) reaches them through APNs or FCM."""
