from datetime import timedelta

import factory
from django.utils import timezone

from machines.models import EnrollmentToken, Machine, MachineGroup


class MachineGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MachineGroup

    name = factory.Sequence(lambda n: f"Group {n}")


class MachineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Machine

    name = factory.Sequence(lambda n: f"pc-{n}")
    hostname = factory.LazyAttribute(lambda m: m.name)
    os = "linux"
    public_key = factory.Sequence(lambda n: f"{n:043d}")
    group = factory.SubFactory(MachineGroupFactory, organization=factory.SelfAttribute("..organization"))


class EnrollmentTokenFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EnrollmentToken

    name = "laptops"
    prefix = "cme_x"
    token_hash = factory.Sequence(lambda n: f"{n:064d}")
    group = factory.SubFactory(MachineGroupFactory, organization=factory.SelfAttribute("..organization"))
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=1))
