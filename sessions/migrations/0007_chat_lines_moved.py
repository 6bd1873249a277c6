"""Chat lines leave the session log: each ``chat`` SessionEvent that holds text becomes a ChatMessage (same session,
sender, time), named as the chat now names people, and the log line goes. Chat messages get a random public id.

``chat`` events without text (written before lines were kept) say nothing anyone could read back: they stay in the
log as they were, and the organization's chat retention still purges them."""

from django.db import migrations, models

import sessions.models
from connect.ids import new_public_id


def fill_public_ids(apps, schema_editor):
    ChatMessage = apps.get_model("support", "ChatMessage")
    for message in ChatMessage.objects.filter(public_id__isnull=True).only("pk"):
        ChatMessage.objects.filter(pk=message.pk).update(public_id=new_public_id("msg"))


def move_chat_lines(apps, schema_editor):
    SessionEvent = apps.get_model("support", "SessionEvent")
    ChatMessage = apps.get_model("support", "ChatMessage")
    lines = SessionEvent.objects.filter(type="chat").select_related("session", "actor").order_by("created_at", "id")
    moved = []
    for event in lines.iterator():
        text = (event.data or {}).get("text") if isinstance(event.data, dict) else None
        if not isinstance(text, str) or not text.strip():
            continue
        if event.actor_kind == "agent":
            actor = event.actor
            name = (actor.name or actor.email) if actor is not None else event.session.agent_label
        else:
            name = event.session.customer_name or "Customer"
        message = ChatMessage.objects.create(
            public_id=new_public_id("msg"),
            session=event.session,
            sender_kind=event.actor_kind if event.actor_kind in ("agent", "customer") else "system",
            sender=event.actor,
            sender_name=(name or "")[:150],
            text=text.strip(),
        )
        ChatMessage.objects.filter(pk=message.pk).update(created_at=event.created_at)  # auto_now_add set it to now
        moved.append(event.pk)
    SessionEvent.objects.filter(pk__in=moved).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("support", "0006_chat_notes_workflow"),
    ]

    operations = [
        migrations.AddField(
            model_name="chatmessage",
            name="public_id",
            field=models.CharField(editable=False, max_length=40, null=True),
        ),
        migrations.RunPython(fill_public_ids, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="chatmessage",
            name="public_id",
            field=models.CharField(
                default=sessions.models._chat_message_id, editable=False, max_length=40, unique=True
            ),
        ),
        migrations.RunPython(move_chat_lines, migrations.RunPython.noop),
    ]
