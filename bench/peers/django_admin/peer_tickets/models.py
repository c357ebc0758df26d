"""Unmanaged models over Atrium's tables (``managed = False``: Django never creates,
alters or drops them). Only the columns the changelist needs; types as in Atrium's
app/models (enums are varchar(16) holding one of the values, times are timestamptz)."""

from django.db import models

PRIORITIES = [(v, v.replace("_", " ").capitalize()) for v in ("low", "medium", "high", "urgent")]
STATUSES = [(v, v.replace("_", " ").capitalize())
            for v in ("open", "in_progress", "waiting_client", "resolved", "closed")]
SLA_STATES = [(v, v.replace("_", " ").capitalize()) for v in ("ok", "at_risk", "breached")]


class Client(models.Model):
    name = models.CharField(max_length=200)

    class Meta:
        managed = False
        db_table = "clients"

    def __str__(self):
        return self.name


class AbUser(models.Model):
    """Flask-AppBuilder's users (Atrium's staff): only the username is shown."""

    username = models.CharField(max_length=128)

    class Meta:
        managed = False
        db_table = "ab_user"
        verbose_name = "Atrium user"

    def __str__(self):
        return self.username


class Ticket(models.Model):
    client = models.ForeignKey(Client, models.DO_NOTHING, db_column="client_id", related_name="+")
    subject = models.CharField(max_length=200)
    # choices: the status filter lists them without a query (a field without choices
    # would get SELECT DISTINCT status over the whole table on every changelist page)
    priority = models.CharField(max_length=16, choices=PRIORITIES)
    status = models.CharField(max_length=16, choices=STATUSES)
    sla_state = models.CharField(max_length=16, choices=SLA_STATES, verbose_name="SLA")
    first_response_due_at = models.DateTimeField(null=True, blank=True,
                                                 verbose_name="First response due")
    assignee = models.ForeignKey(AbUser, models.DO_NOTHING, db_column="assignee_id", null=True,
                                 blank=True, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "tickets"

    def __str__(self):
        return f"#{self.id} {self.subject}"
