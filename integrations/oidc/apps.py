from django.apps import AppConfig


class ConnectOIDCConfig(AppConfig):
    name = "integrations.oidc"
    label = "connect_oidc"
    verbose_name = "OpenID Connect sign-in"
