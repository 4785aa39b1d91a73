from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tracking.forms import validate_domain, validate_timezone
from tracking.sites import create_site, same_domain_site


class Command(BaseCommand):
    help = "Create a site owned by an existing user; prints the new SITE_ID alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("domain", help="Host name the snippet runs on, e.g. example.com")
        parser.add_argument("--owner", required=True, help="Username of the owner (must exist)")
        parser.add_argument("--name", default="", help="Display name (default: the domain)")
        parser.add_argument("--timezone", default="UTC", help="IANA time zone (default UTC)")

    def handle(self, *args, domain, owner, name, timezone, **options):
        try:
            domain = validate_domain(domain)
            timezone = validate_timezone(timezone)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        user = get_user_model().objects.filter(username=owner).first()
        if user is None:
            raise CommandError(f"No user named {owner!r}; create it first (createsuperuser or sign up).")
        twin = same_domain_site(user, domain)
        if twin is not None:
            raise CommandError(
                f"{owner} already tracks {domain} in the site {twin.name!r} ({twin.public_id}); two sites "
                "for one domain would split its visitors and payments. Use that site, or delete it first."
            )
        site = create_site(user, name=name.strip() or domain, domain=domain, timezone=timezone)
        self.stdout.write(f"Created site {site.name} for {domain}, owned by {owner}.")
        self.stdout.write(site.public_id)
