from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider

from .views import VerifyingAdapter


class ConnectOIDCProvider(OpenIDConnectProvider):
    id = "connect_oidc"
    name = "Organization sign-in"
    oauth2_adapter_class = VerifyingAdapter
    # allauth's token sign-in (an app handing over an ID token, allauth.headless) would fetch the issuer's keys with
    # plain ``requests``, around the outbound guard; people sign in through the browser flow only.
    supports_token_authentication = False
    # PKCE on the code exchange: a code intercepted on its way back (a browser extension, a proxy log) is useless.
    pkce_enabled_default = True


provider_classes = [ConnectOIDCProvider]
