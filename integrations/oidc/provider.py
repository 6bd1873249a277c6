from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider

from .views import VerifyingAdapter


class ConnectOIDCProvider(OpenIDConnectProvider):
    id = "connect_oidc"
    name = "Organization sign-in"
    oauth2_adapter_class = VerifyingAdapter


provider_classes = [ConnectOIDCProvider]
