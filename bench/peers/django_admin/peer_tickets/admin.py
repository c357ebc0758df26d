"""The ticket changelist: Atrium's list columns, newest first, filter by status."""

from django.contrib import admin

from .models import Ticket

# The benchmark's page-size argument: Django's admin has none (list_per_page is fixed
# per ModelAdmin), so ``?psize=N`` is taken off the query string before the changelist
# reads it (it would be an unknown filter) and given to the paginator.
PAGE_SIZE_VAR = "psize"
MAX_PAGE_SIZE = 100


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = ("id", "client__name", "subject", "priority", "status", "sla_state",
                    "first_response_due_at", "assignee__username", "created_at")
    list_select_related = ("client", "assignee")
    list_filter = ("status",)
    list_per_page = 25
    ordering = ("-created_at", "-id")  # = FAB's ORDER BY created_at DESC, id DESC

    def get_changelist_instance(self, request):
        if PAGE_SIZE_VAR in request.GET:
            query = request.GET.copy()
            try:
                size = int(query.pop(PAGE_SIZE_VAR)[-1])
            except ValueError:
                size = self.list_per_page
            request.GET = query
            request.peer_page_size = max(1, min(size, MAX_PAGE_SIZE))
        return super().get_changelist_instance(request)

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        per_page = getattr(request, "peer_page_size", per_page)
        return super().get_paginator(request, queryset, per_page, orphans, allow_empty_first_page)
