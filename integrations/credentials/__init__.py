"""An organization's credentials for other software: API keys and OAuth2 applications (django-oauth-toolkit)."""
