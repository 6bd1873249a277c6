"""The scope vocabulary shared by roles, API keys and OAuth2 apps (no model imports: settings read it)."""

SCOPES: dict[str, str] = {
    "org:read": "See the organization's name and settings",
    "org:write": "Change the organization's settings",
    "members:read": "List members and invitations",
    "members:write": "Invite, change the role of, and remove members",
    "sessions:read": "See support sessions and their event logs",
    "sessions:write": "Start and end support sessions",
    "machines:read": "See unattended machines",
    "machines:write": "Register and remove unattended machines",
    "meetings:read": "See meetings and who took part",
    "meetings:write": "Create, join and host meetings",
    "webhooks:read": "See webhook endpoints and deliveries",
    "webhooks:write": "Manage webhook endpoints",
    "api_keys:read": "See API keys and OAuth2 applications",
    "api_keys:write": "Create and revoke API keys and OAuth2 applications",
    "usage:read": "See usage and billing figures",
    "billing:write": "Change the plan and the number of seats",
    "audit:read": "Read the audit log",
}
