"""The one JSON parser of the product: DRF's (strict: no NaN or Infinity), plus a bound on nesting.

Python's decoder recurses once per level, so ``[[[[...]]]]`` 100,000 deep raises ``RecursionError`` (a 500), and
anything deep enough to get through would recurse again in every serializer and renderer after it. No request the
product takes nests anywhere near :data:`MAX_JSON_DEPTH`; deeper input is ``400 malformed_request``.
Every ``json.loads`` of something a client sent (request bodies, signed tokens) goes through :func:`loads_bounded`.
"""

from __future__ import annotations

import codecs
from typing import Any

from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils import json

MAX_JSON_DEPTH = 64


class JSONTooDeep(ValueError):
    pass


def loads_bounded(text: str | bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` for untrusted input: ``ValueError`` for anything that is not strict JSON nested at most
    ``max_depth`` arrays or objects deep (``JSONTooDeep``, a ``ValueError``, for too deep)."""
    try:
        value = json.loads(text)  # DRF's: refuses NaN and Infinity
    except RecursionError:
        raise JSONTooDeep(_("JSON nested deeper than %(n)d levels.") % {"n": max_depth}) from None
    if _nested_deeper_than(value, max_depth):
        raise JSONTooDeep(_("JSON nested deeper than %(n)d levels.") % {"n": max_depth})
    return value


def _nested_deeper_than(value: Any, limit: int) -> bool:
    """Walked with a stack, not recursion: the point is not to recurse on what a client chose."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class JSONParser(parsers.JSONParser):
    """REST_FRAMEWORK's only parser: a body of any other type is ``415 unsupported_media_type``."""

    def parse(self, stream, media_type: str | None = None, parser_context: dict[str, Any] | None = None) -> Any:
        encoding = parsers.get_encoding(parser_context or {})
        try:
            return loads_bounded(codecs.getreader(encoding)(stream).read())
        except JSONTooDeep as exc:
            raise ParseError(str(exc)) from None
        except ValueError as exc:  # also UnicodeDecodeError
            raise ParseError(_("JSON parse error - %(error)s") % {"error": exc}) from None
