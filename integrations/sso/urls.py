"""Routes of single sign-on. ``accounts/login/`` replaces allauth's sign-in page, so connect/urls.py includes these
before allauth's. The OpenID Connect callbacks are allauth's to route (``oidc/urls.py``, found through the provider)."""

from django.urls import path

from . import views

urlpatterns = [
    path("sso", views.bizgaze_sso, name="bizgaze_sso"),
    path("accounts/login/", views.login_router, name="account_login"),
]
