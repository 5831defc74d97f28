"""Create the documented demo organisation "Praktijk De Linde" (see docs/app.md, "Demo data").

The organisation requires two-step verification and every demo account (staff too) has SMS
two-step on with a fictional number (PHONES), so a sign-in shows the code step end to end.

Idempotent: a second run finds every account in place, changes nothing and says so.
`--reset` deletes the demo organisation (with all its data) and the demo staff account first.
`--messages N` makes sure Carla's dialogue holds at least N messages on top of the seeded ones
(for benchmarks); running it again with the same N adds nothing.
"""

from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from accounts.models import Role, TwoFactor, TwoFactorMethod, User
from coaching.models import Answer, Assignment, Comment, Message, Note
from organisations.models import Organisation

ORGANISATION_NAME = "Praktijk De Linde"
PASSWORD = "Demo-Safecoach-2026"  # noqa: S105 - documented throwaway demo password
DOMAIN = "demo.safecoach.test"

MANAGER = ("manager", "Mila Manager")
COACHES = {
    "anna.coach": "Anna de Vries",
    "bram.coach": "Bram Jansen",
}
CLIENTS = {
    # local part: (name, coach local part)
    "carla": ("Carla Bakker", "anna.coach"),
    "daan": ("Daan Visser", "anna.coach"),
    "eva": ("Eva Smit", "anna.coach"),
    "fleur": ("Fleur de Boer", "bram.coach"),
    "gijs": ("Gijs Mulder", "bram.coach"),
}
STAFF = ("staff", "Sam Staff")

# Every demo account has SMS two-step on with a fictional number (+31 6 1234 56xx), as the demo
# organisation requires two-step; on the lab the codes land in the SMS file (docs/app.md).
PHONES = {
    "manager": "+31612345601",
    "anna.coach": "+31612345602",
    "bram.coach": "+31612345603",
    "carla": "+31612345604",
    "daan": "+31612345605",
    "eva": "+31612345606",
    "fleur": "+31612345607",
    "gijs": "+31612345608",
    "staff": "+31612345609",
}

# Per client: the dialogue as (who, text), oldest first; "c" is the coach, "k" the client.
DIALOGUES = {
    "carla": [
        ("c", "Hoi Carla, fijn dat je er bent. Hoe gaat het deze week?"),
        ("k", "Best goed, maar ik slaap slecht sinds de drukte op mijn werk."),
        ("c", "Dat is vervelend. Wat merk je vooral: inslapen of doorslapen?"),
        ("k", "Vooral inslapen. Ik lig lang te piekeren."),
        (
            "c",
            "Ik zet een oefening voor je klaar: elke avond drie dingen opschrijven die goed gingen.",
        ),
        ("k", "Doe ik, ik begin vanavond."),
    ],
    "daan": [
        ("c", "Hallo Daan, welkom. Waar wil je de komende weken aan werken?"),
        ("k", "Ik wil rustiger blijven in vergaderingen en beter nee leren zeggen."),
        ("c", "Mooi doel. Kun je een voorbeeld geven van de afgelopen week?"),
        ("k", "Gisteren kreeg ik er weer een project bij terwijl mijn planning al vol zat."),
    ],
    "eva": [
        ("c", "Hoi Eva, hoe was je eerste week na de vakantie?"),
        ("k", "Zwaarder dan gedacht. Ik merk dat ik snel moe ben."),
        ("c", "Laten we kijken naar je energie. Wanneer voel je je het fitst?"),
    ],
    "fleur": [
        ("c", "Dag Fleur, fijn kennis te maken. Wat bracht je bij ons?"),
        ("k", "Ik twijfel over een nieuwe baan en wil er een goede keuze in maken."),
        ("c", "Daar gaan we samen naar kijken. Wat trekt je aan in die nieuwe baan?"),
        ("k", "Meer vrijheid, maar ik ben bang de zekerheid van nu kwijt te raken."),
        ("c", "Herkenbaar. Ik stuur je een opdracht om de voor- en nadelen op een rij te zetten."),
    ],
    "gijs": [
        ("k", "Hoi Bram, ik heb de afspraak van donderdag in mijn agenda gezet."),
        ("c", "Top, Gijs. Neem gerust je aantekeningen van vorige keer mee."),
        ("k", "Zal ik doen. Ik heb er al een paar vragen bij geschreven."),
    ],
}
# How many of the last messages in each dialogue are still unread by their recipient.
UNREAD_AT_END = {"carla": 1, "daan": 1, "eva": 1, "fleur": 0, "gijs": 1}

ASSIGNMENTS = {
    "carla": [
        {
            "title": "Drie goede dingen",
            "instructions": "Schrijf een week lang elke avond drie dingen op die die dag goed "
            "gingen, hoe klein ook. Noteer er ook bij wat jouw rol daarin was.",
            "due_in_days": 7,
            "answer": "Maandag: een fijne wandeling, een compliment van mijn collega, op tijd "
            "naar bed. Het hielp om het op te schrijven; ik piekerde minder.",
            "comment": "Mooi begin, Carla. Valt je op dat je zelf vaak de aanzet gaf?",
        },
        {
            "title": "Slaapdagboek",
            "instructions": "Houd twee weken bij hoe laat je naar bed gaat, hoe lang het duurt "
            "voor je slaapt en hoe uitgerust je je voelt (1-5).",
            "due_in_days": 14,
        },
    ],
    "daan": [
        {
            "title": "Nee zeggen oefenen",
            "instructions": "Kies deze week één verzoek waar je normaal ja op zegt. Zeg vriendelijk "
            "nee of stel een voorwaarde, en schrijf op wat er gebeurde.",
            "due_in_days": 7,
            "answer": "Ik heb gezegd dat het nieuwe project pas na de oplevering kan. Mijn "
            "leidinggevende vond dat prima, ik had het erger verwacht.",
            "comment": "Goed gedaan! Wat maakte dat je het dit keer wel durfde?",
        },
    ],
    "fleur": [
        {
            "title": "Voor- en nadelen",
            "instructions": "Zet de voor- en nadelen van beide banen naast elkaar. Geef elk punt "
            "een gewicht van 1 tot 5.",
            "due_in_days": 10,
            "answer": "Nieuwe baan: vrijheid (5), groei (4), minder zekerheid (3). Huidige baan: "
            "zekerheid (4), fijne collega's (3), weinig uitdaging (4).",
            "comment": "Helder overzicht. Laten we donderdag bespreken wat zwaarder weegt.",
        },
    ],
}
NOTES = {
    "carla": "Slaapproblemen door werkdruk. Volgende sessie: grenzen op het werk bespreken.",
    "daan": "Sterke motivatie. Let op perfectionisme als onderliggend thema.",
    "eva": "Mogelijk beginnende overbelasting; energieniveau volgen.",
    "fleur": "Keuzestress rond baanwissel; waarden verhelderen.",
    "gijs": "Goed voorbereid, komt met eigen vragen. Tempo mag omhoog.",
}


def email(local):
    return f"{local}@{DOMAIN}"


def demo_emails():
    return [
        email(MANAGER[0]),
        *(email(local) for local in COACHES),
        *(email(local) for local in CLIENTS),
        email(STAFF[0]),
    ]


class Command(BaseCommand):
    help = (
        'Create the demo organisation "Praktijk De Linde" with its accounts and some dialogue. '
        "Running it again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Delete the demo organisation, its data and the demo staff account first.",
        )
        parser.add_argument(
            "--messages",
            type=int,
            default=0,
            metavar="N",
            help="Make sure Carla's dialogue has N extra messages (for benchmarks).",
        )

    def handle(self, *args, reset=False, messages=0, **options):
        if messages < 0:
            raise CommandError("--messages must be 0 or more.")
        self.verbosity = options.get("verbosity", 1)
        self.changes = 0
        with transaction.atomic():
            if reset:
                self.reset()
            self.seed()
            if messages:
                self.extra_messages(messages)
        if self.changes:
            self.stdout.write(self.style.SUCCESS(f'Demo organisation "{ORGANISATION_NAME}" ready.'))
        else:
            self.stdout.write(
                f'Demo organisation "{ORGANISATION_NAME}" already exists; nothing changed.'
            )
        self.print_accounts()

    # -- building blocks -------------------------------------------------------------------

    def reset(self):
        demo = User.objects.filter(email__in=demo_emails())
        organisation_ids = set(
            demo.exclude(organisation=None).values_list("organisation_id", flat=True)
        )
        organisation_ids |= set(
            Organisation.objects.filter(name=ORGANISATION_NAME, members=None).values_list(
                "pk", flat=True
            )
        )
        # Deleting the organisation cascades to its members and all their data.
        Organisation.objects.filter(pk__in=organisation_ids).delete()
        User.objects.filter(email__in=demo_emails()).delete()
        self.changes += 1
        self.stdout.write("Deleted the demo organisation and its accounts.")

    def user(self, local, name, **fields):
        """Get or create one demo account, with SMS two-step on; returns (user, created)."""
        address = email(local)
        existing = User.objects.filter(email__iexact=address).first()
        if existing is not None:
            self.two_step(existing, local)
            return existing, False
        self.changes += 1
        user = User.objects.create_user(address, PASSWORD, full_name=name, language="nl", **fields)
        self.two_step(user, local)
        return user, True

    def two_step(self, user, local):
        """SMS two-step on with the account's documented number (verified: it is ours)."""
        if TwoFactor.objects.filter(user=user).exclude(method="").exists():
            return
        self.changes += 1
        TwoFactor.objects.update_or_create(
            user=user,
            defaults={
                "method": TwoFactorMethod.SMS,
                "phone": PHONES[local],
                "recorded_phone": "",
                "enrol_required": False,
                "enabled_at": timezone.now(),
            },
        )

    def seed(self):
        manager = User.objects.filter(email__iexact=email(MANAGER[0])).first()
        if manager is not None and manager.organisation_id:
            organisation = manager.organisation
        else:
            organisation = Organisation.objects.create(
                name=ORGANISATION_NAME, require_two_factor=True
            )
            self.changes += 1
        if not organisation.require_two_factor:
            organisation.require_two_factor = True
            organisation.save(update_fields=["require_two_factor"])
            self.changes += 1
        self.user(MANAGER[0], MANAGER[1], organisation=organisation, role=Role.MANAGER)
        coaches = {
            local: self.user(local, name, organisation=organisation, role=Role.COACH)[0]
            for local, name in COACHES.items()
        }
        for local, (name, coach_local) in CLIENTS.items():
            coach = coaches[coach_local]
            client, _created = self.user(
                local, name, organisation=organisation, role=Role.CLIENT, coach=coach
            )
            if (
                client.coach_id == coach.pk
                and not Message.objects.filter(coach=coach, client=client).exists()
            ):
                self.dialogue(local, coach, client)
        self.user(STAFF[0], STAFF[1], is_staff=True, is_superuser=True)

    def dialogue(self, local, coach, client):
        """The seeded dialogue, assignments and note of one pair, spread over the past days."""
        self.changes += 1
        now = timezone.now()
        lines = DIALOGUES[local]
        unread_from = len(lines) - UNREAD_AT_END[local]
        for index, (who, text) in enumerate(lines):
            sent = now - timedelta(days=len(lines) - index, hours=index % 3)
            message = Message.objects.create(
                coach=coach, client=client, sender=coach if who == "c" else client, body=text
            )
            read_at = None if index >= unread_from else sent + timedelta(hours=2)
            Message.objects.filter(pk=message.pk).update(created_at=sent, read_at=read_at)
        for number, spec in enumerate(ASSIGNMENTS.get(local, [])):
            given = now - timedelta(days=len(lines) - 1 - number)
            assignment = Assignment.objects.create(
                coach=coach,
                client=client,
                title=spec["title"],
                instructions=spec["instructions"],
                due_date=date.today() + timedelta(days=spec["due_in_days"] - len(lines)),
            )
            Assignment.objects.filter(pk=assignment.pk).update(created_at=given)
            if "answer" in spec:
                Answer.objects.create(assignment=assignment, body=spec["answer"])
            if "comment" in spec:
                Comment.objects.create(assignment=assignment, body=spec["comment"])
        if local in NOTES:
            Note.objects.create(coach=coach, client=client, body=NOTES[local])

    def extra_messages(self, wanted):
        client = User.objects.filter(email__iexact=email("carla")).select_related("coach").first()
        if client is None or client.coach is None:
            raise CommandError("Carla has no coach; run seed_demo --reset first.")
        coach = client.coach
        have = Message.objects.filter(coach=coach, client=client).count()
        missing = len(DIALOGUES["carla"]) + wanted - have
        if missing <= 0:
            return
        read_at = timezone.now()
        Message.objects.bulk_create(
            [
                Message(
                    coach=coach,
                    client=client,
                    sender=coach if number % 2 else client,
                    body=f"Extra bericht {number + 1} voor de benchmark.",
                    read_at=read_at,
                )
                for number in range(have, have + missing)
            ],
            batch_size=500,
        )
        self.changes += 1
        self.stdout.write(f"Added {missing} extra messages to Carla's dialogue.")

    def print_accounts(self):
        self.stdout.write(
            f"Demo accounts (password for all: {PASSWORD}; sign-in codes by SMS to the number "
            "shown, in SAFECOACH_SMS_FILE with the file gateway):"
        )
        rows = [(MANAGER[0], MANAGER[1], "organisation manager")]
        rows += [(local, name, "coach") for local, name in COACHES.items()]
        rows += [
            (local, name, f"client of {COACHES[coach]}") for local, (name, coach) in CLIENTS.items()
        ]
        rows.append((STAFF[0], STAFF[1], "platform staff (superuser)"))
        width = max(len(email(row[0])) for row in rows)
        for local, name, role in rows:
            self.stdout.write(f"  {email(local).ljust(width)}  {PHONES[local]}  {name} — {role}")
