from django import template

register = template.Library()


@register.filter
def duration(seconds: int | None) -> str:
    """``754`` -> ``12:34``; ``3723`` -> ``1:02:03``; nothing -> an em dash."""
    if seconds is None:
        return "—"
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
