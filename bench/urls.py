"""The product's URLs plus ``/bench/trivial``: the smallest DRF view, served by the same process (workload D)."""

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from connect.urls import handler400, handler403, handler404, handler500
from connect.urls import urlpatterns as product_urlpatterns

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]


class TrivialView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"ok": True})


urlpatterns = [path("bench/trivial", TrivialView.as_view()), *product_urlpatterns]
