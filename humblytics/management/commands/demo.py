from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-humblytics"


class Command(BaseCommand):
    help = "Ensure the demo login exists (idempotent)."

    def handle(self, *args, **options):
        user_model = get_user_model()
        user = user_model.objects.filter(username=DEMO_USERNAME).first()
        if user is None:
            user = user_model.objects.create_user(DEMO_USERNAME, "demo@example.com", DEMO_PASSWORD)
        self.stdout.write(f"Demo login: username {DEMO_USERNAME}  password {DEMO_PASSWORD}")
