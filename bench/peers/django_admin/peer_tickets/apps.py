from django.apps import AppConfig


class PeerTicketsConfig(AppConfig):
    name = "peer_tickets"
    verbose_name = "Support"
