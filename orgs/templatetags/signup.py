"""``{% signup_open as open %}``: whether this server lets visitors create an account (the sign-in page links to the
sign-up page only then). Asks the account adapter, which decides it for allauth's own views too."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import get_adapter
from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def signup_open(context: dict[str, Any]) -> bool:
    request = context.get("request")
    return request is not None and get_adapter(request).is_open_for_signup(request)
