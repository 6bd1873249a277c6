from urllib.parse import urlencode

from django import template

register = template.Library()


@register.filter
def urlencode_query(values: dict) -> str:
    """A dict of query parameters as ``a=1&b=2``, escaped."""
    return urlencode(values)
