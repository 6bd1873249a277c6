"""OpenID Connect sign-in per organization: django-allauth's OpenID Connect provider, always verifying ID tokens.

allauth skips the ID-token signature check (and with it expiry and audience) when the token comes straight from the
token endpoint; an organization's identity provider is configured by the organization itself, so we check anyway.
"""
