"""WSGI entry point: ``gunicorn -w 2 --chdir bench/peers/django_admin peer_site.wsgi:application``."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peer_site.settings")
application = get_wsgi_application()
