"""Routes of an organization's credentials: its pages, its API (under ``/api/v1/``) and the OAuth2 endpoints."""

from django.urls import path
from oauth2_provider import views as oauth_views

from connect import converters  # noqa: F401  (registers <public_id:...>)
from connect.nocache import no_store

from . import api, views
from .oauth_views import OrganizationAuthorizationView, OrganizationIntrospectTokenView

urlpatterns = [
    path("o/<slug:org_slug>/api-keys/", views.APIKeysView.as_view(), name="org_api_keys"),
    path(
        "o/<slug:org_slug>/api-keys/<public_id:key_id>/revoke", views.APIKeyRevokeView.as_view(), name="api_key_revoke"
    ),
]

api_urlpatterns = [
    path("api-keys", api.APIKeyListView.as_view(), name="api-keys"),
    path("api-keys/<public_id:key_id>", api.APIKeyDetailView.as_view(), name="api-key"),
    path("oauth-apps", api.OAuthAppListView.as_view(), name="oauth-apps"),
    path("oauth-apps/<public_id:client_id>", api.OAuthAppDetailView.as_view(), name="oauth-app"),
]

# The OAuth2 endpoints third-party apps use; the toolkit's own application-management pages are not exposed
# (applications belong to organizations and are managed through /api/v1/oauth-apps and the org pages).
oauth_urlpatterns = [
    path("authorize/", OrganizationAuthorizationView.as_view(), name="authorize"),
    path("token/", no_store(oauth_views.TokenView.as_view()), name="token"),
    path("revoke_token/", oauth_views.RevokeTokenView.as_view(), name="revoke-token"),
    # Only tokens of the calling client's own organization (oauth_views.py).
    path("introspect/", OrganizationIntrospectTokenView.as_view(), name="introspect"),
]
