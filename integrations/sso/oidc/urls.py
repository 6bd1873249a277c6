from django.urls import path

from connect import converters  # noqa: F401  (registers <public_id:...>)

from . import views

urlpatterns = [
    path("oidc/<public_id:provider_id>/login/", views.login, name="connect_oidc_login"),
    path("oidc/<public_id:provider_id>/login/callback/", views.callback, name="connect_oidc_callback"),
]
