"""Sign-in through an organization's own identity provider (django-allauth's OpenID Connect provider).

Every request to the identity provider, whose address the organization chose, goes through ``connect.outbound``:
the discovery document, the token endpoint, the userinfo endpoint and the signing keys (JWKS). allauth makes these
with ``requests`` and follows redirects anywhere; the adapter below replaces each of those calls (allauth 65.21:
``openid_config``, ``OAuth2Client.get_access_token``, ``_fetch_user_info``, ``jwtkit.fetch_key``). Visitors are only
sent to an ``authorization_endpoint`` the guard accepts. An issuer that is refused, unreachable or broken answers
a clear page (502), never a server error.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jwt
from allauth.account.internal.decorators import login_not_required
from allauth.socialaccount.internal import jwtkit
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.oauth2.client import OAuth2Client, OAuth2Error
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from allauth.utils import build_absolute_uri
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from connect import outbound

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0
MAX_DOCUMENT_BYTES = 512 * 1024
USER_AGENT = "BizGaze-Connect-OIDC/1"
# Public-key algorithms only: a shared-secret one ("HS256" with the public key as secret) or "none" would let
# anyone who read the keys sign tokens.
ID_TOKEN_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


def fetch_json(
    method: str, url: str, *, what: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """A JSON object from the identity provider, through the outbound guard. Anything else: OutboundError."""
    response = outbound.request(
        method,
        url,
        body=body,
        headers={"Accept": "application/json", "User-Agent": USER_AGENT, **(headers or {})},
        timeout=TIMEOUT_SECONDS,
        max_body_bytes=MAX_DOCUMENT_BYTES,
    )
    if response.truncated:
        raise outbound.OutboundError(f"The {what} at {url} is larger than {MAX_DOCUMENT_BYTES // 1024} KiB.")
    if not 200 <= response.status < 300:  # a redirect too: it is not followed
        raise outbound.OutboundError(f"The {what} at {url} answered HTTP {response.status}.")
    try:
        data = json.loads(response.body)
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        raise outbound.OutboundError(f"The {what} at {url} is not a JSON object.")
    return data


class GuardedOAuth2Client(OAuth2Client):
    """allauth's code-for-token exchange (``OAuth2Client.get_access_token``), sent through the outbound guard."""

    def get_access_token(self, code, pkce_code_verifier=None, extra_data=None) -> dict:
        data = {"redirect_uri": self.callback_url, "grant_type": "authorization_code", "code": code}
        headers = {"Content-Type": "application/x-www-form-urlencoded", **(self.headers or {})}
        if self.basic_auth:
            credentials = f"{self.consumer_key}:{self.consumer_secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(credentials).decode()
        else:
            data.update({self.client_id_parameter: self.consumer_key, "client_secret": self.consumer_secret})
        data.update(extra_data or {})
        self._strip_empty_keys(data)
        if pkce_code_verifier:
            data["code_verifier"] = pkce_code_verifier
        response = outbound.request(
            "POST",
            self.access_token_url,
            body=urlencode(data).encode(),
            headers={"Accept": "application/json", "User-Agent": USER_AGENT, **headers},
            timeout=TIMEOUT_SECONDS,
            max_body_bytes=MAX_DOCUMENT_BYTES,
        )
        token = None
        if response.status in (200, 201) and not response.truncated:
            try:
                token = json.loads(response.body)
            except (ValueError, RecursionError):
                token = dict(parse_qsl(response.body.decode("utf-8", "replace")))
        if not isinstance(token, dict) or not isinstance(token.get("access_token"), str):
            # The identity provider turned the code down: allauth shows its sign-in error page.
            raise OAuth2Error(f"Error retrieving access token: HTTP {response.status}")
        return token


class VerifyingAdapter(OpenIDConnectOAuth2Adapter):
    client_class = GuardedOAuth2Client

    @property
    def openid_config(self) -> dict[str, Any]:
        if not hasattr(self, "_openid_config"):
            provider = self.get_provider()
            config = fetch_json("GET", provider.server_url, what="discovery document")
            config.update(provider.app.settings.get("openid_configuration_overrides", {}))
            for key in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(config.get(key), str):
                    raise outbound.OutboundError(f"The discovery document at {provider.server_url} has no {key}.")
            # OpenID Connect Discovery 4.3: the document names the issuer it was fetched for, or it is someone
            # else's (ID tokens are then checked against the issuer the organization configured, not this one).
            configured = str(provider.app.settings.get("server_url", "")).split("/.well-known/")[0].rstrip("/")
            if config["issuer"].rstrip("/") != configured:
                raise outbound.OutboundError(
                    f"The discovery document at {provider.server_url} names the issuer {config['issuer']!r}, "
                    f"not {configured!r}."
                )
            # The visitor is sent there: only to an address the guard would accept (https outside debug).
            outbound.check_public_url(config["authorization_endpoint"])
            self._openid_config = config
        return self._openid_config

    def complete_login(self, request: HttpRequest, app: SocialApp, token, **kwargs):
        """allauth's, except that an ID token is required (allauth signs in from userinfo alone without one) and
        userinfo counts only for the person the ID token names (OpenID Connect Core 5.3.2)."""
        id_token = kwargs["response"].get("id_token")
        if not isinstance(id_token, str):
            raise OAuth2Error("The identity provider sent no ID token.")
        data: dict[str, Any] = {"id_token": self._decode_id_token(app, id_token)}
        if app.settings.get("fetch_userinfo", True):
            userinfo = self._fetch_user_info(token.token)
            if userinfo and userinfo.get("sub") != data["id_token"]["sub"]:
                raise OAuth2Error("The userinfo endpoint answered for someone else than the ID token.")
            data["userinfo"] = userinfo
        return self.get_provider().sociallogin_from_response(request, data)

    def _fetch_user_info(self, access_token: str) -> dict:
        url = self.openid_config.get("userinfo_endpoint")
        if not isinstance(url, str):
            return {}  # allauth then reads the person from the ID token
        return fetch_json("GET", url, what="userinfo endpoint", headers={"Authorization": f"Bearer {access_token}"})

    def _decode_id_token(self, app: SocialApp, id_token: str) -> dict:
        """allauth's ``jwtkit.verify_and_decode``, always verifying the signature, with the keys fetched through
        the guard, and the algorithm the key names (not the one the token claims)."""
        keys = fetch_json("GET", self.openid_config["jwks_uri"], what="signing keys (JWKS)")
        try:
            kid = jwt.get_unverified_header(id_token).get("kid")
            entry = next(k for k in keys.get("keys", []) if isinstance(k, dict) and k.get("kid") == kid)
            key = jwt.PyJWK(entry)
            if key.algorithm_name not in ID_TOKEN_ALGORITHMS:
                raise OAuth2Error(f"The signing key's algorithm {key.algorithm_name} is not accepted.")
            data = jwt.decode(
                id_token,
                key=key.key,
                algorithms=[key.algorithm_name],
                options={
                    "verify_signature": True,
                    "verify_iss": True,
                    "verify_aud": True,
                    "verify_exp": True,
                    "require": ["iss", "aud", "exp", "sub"],
                },
                issuer=self.openid_config["issuer"],
                audience=app.client_id,
            )
        except (jwt.PyJWTError, StopIteration, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise OAuth2Error("Invalid id_token") from exc
        jwtkit.verify_jti(data)
        return data

    def get_callback_url(self, request: HttpRequest, app) -> str:
        url = reverse("connect_oidc_callback", kwargs={"provider_id": self.provider_id})
        return build_absolute_uri(request, url, self.redirect_uri_protocol)


def _issuer_unusable(request: HttpRequest, provider_id: str, exc: outbound.OutboundError) -> HttpResponse:
    # The details (addresses, answers) are for the operator's log; the visitor is told what to do.
    logger.warning("OpenID Connect sign-in of %s stopped: %s", provider_id, exc)
    if isinstance(exc, outbound.BlockedURL):
        message = _(
            "This organization's single sign-on points to an address that is not allowed. "
            "Ask your administrator to correct the identity provider's address in the organization's settings."
        )
    else:
        message = _(
            "This organization's identity provider could not be reached or gave an answer that cannot be used. "
            "Try again in a few minutes; if it keeps failing, tell your administrator."
        )
    return render(request, "integrations/sso_error.html", {"message": message}, status=502)


def _with_adapter(view_class):
    """allauth's OAuth2 view for one organization's provider, with the guarded, ID-token-verifying adapter; an
    unknown provider answers 404, an issuer the guard refuses or cannot reach 502."""

    @login_not_required
    def view(request: HttpRequest, provider_id: str):
        try:
            return view_class.adapter_view(VerifyingAdapter(request, provider_id))(request)
        except SocialApp.DoesNotExist:
            raise Http404 from None
        except outbound.OutboundError as exc:
            return _issuer_unusable(request, provider_id, exc)

    return view


login = _with_adapter(OAuth2LoginView)
callback = _with_adapter(OAuth2CallbackView)
