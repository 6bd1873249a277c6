"""The file-transfer limit of a session's organization, for the session pages (sessions.files)."""

from __future__ import annotations

from django import template

from sessions import files
from sessions.models import SupportSession

register = template.Library()


@register.filter
def file_limit_bytes(session: SupportSession) -> int:
    return files.file_limit(session.organization)


@register.filter
def file_size(size: int) -> str:
    """``104857600`` -> ``100 MB``."""
    return files.format_size(int(size))


@register.filter
def file_detail(event) -> str:
    """What a file event of the session log names: ``report.pdf · 1.2 MB`` (never the content)."""
    if not event.type.startswith("file_") or not isinstance(event.data, dict) or "name" not in event.data:
        return ""
    return f"{event.data['name']} · {files.format_size(int(event.data.get('size') or 0))}"
