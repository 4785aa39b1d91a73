from django.core.management.base import BaseCommand, CommandError

from tracking.apikeys import create_api_key
from tracking.models import Site


class Command(BaseCommand):
    help = "Create a REST API key for a site; prints the key alone on the last line (shown only once)."

    def add_arguments(self, parser):
        parser.add_argument("site_id", help="The site's SITE_ID")
        parser.add_argument("--name", default="API key")

    def handle(self, *args, site_id, name, **options):
        site = Site.objects.filter(public_id=site_id).first()
        if site is None:
            raise CommandError(f"No site with id {site_id!r}.")
        row, key = create_api_key(site, name)
        self.stdout.write(
            f"Created API key {row.name!r} for {site.public_id}. Store it now: it is not shown again."
        )
        self.stdout.write(key)
