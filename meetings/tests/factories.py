import factory

from connect.ids import new_public_id, secret_hash
from meetings.models import Meeting, MeetingParticipant


class MeetingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Meeting

    public_id = factory.LazyFunction(lambda: new_public_id("mtg"))
    room_name = factory.LazyAttribute(lambda m: m.public_id)
    title = factory.Sequence(lambda n: f"Meeting {n}")
    invite_token_hash = factory.Sequence(lambda n: secret_hash(f"mti_{n}"))


class MeetingParticipantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MeetingParticipant

    meeting = factory.SubFactory(MeetingFactory)
    organization = factory.LazyAttribute(lambda p: p.meeting.organization)
    display_name = "Gus"
    identity = factory.LazyFunction(lambda: new_public_id("gst"))
    role = MeetingParticipant.Role.GUEST
    state = MeetingParticipant.State.LOBBY
