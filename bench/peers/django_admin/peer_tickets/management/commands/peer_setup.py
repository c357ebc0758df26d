"""``manage.py peer_setup --password P``: Django's own tables, and the superuser.

Runs ``migrate`` (only Django's contrib apps have migrations: auth_*, django_session,
django_content_type, django_admin_log, django_migrations; the unmanaged peer_tickets
models are never created) and creates or updates the superuser ``benchadmin``.
Idempotent.
"""

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

USERNAME = "benchadmin"


class Command(BaseCommand):
    help = "Create Django's own tables and the benchadmin superuser (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--password", required=True)

    def handle(self, *args, password, **options):
        call_command("migrate", interactive=False, verbosity=0)
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=USERNAME, defaults={"email": "benchadmin@atrium.example"})
        user.is_staff = user.is_superuser = user.is_active = True
        if created or not user.check_password(password):
            user.set_password(password)
        user.save()
        self.stdout.write(f"{'created' if created else 'updated'} superuser {USERNAME}")
