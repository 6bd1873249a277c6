from django.apps import AppConfig


class ConnectOIDCConfig(AppConfig):
    # An installed app of its own (allauth finds providers by app), inside the SSO package it belongs to. Its label
    # is explicit and it has no models or migrations, so living under integrations/sso/ changed nothing but its name.
    name = "integrations.sso.oidc"
    label = "connect_oidc"
    verbose_name = "OpenID Connect sign-in"
