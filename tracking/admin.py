from django.contrib import admin

from tracking.models import CustomEvent, EventTerm, Membership, Site


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["name", "public_id", "domain", "timezone", "created_at"]
    list_filter = ["timezone", "created_at"]
    search_fields = ["name", "domain", "public_id", "memberships__user__username"]
    readonly_fields = ["public_id", "created_at"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "site", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__email", "site__name", "site__public_id", "site__domain"]
    autocomplete_fields = ["user", "site"]


@admin.register(CustomEvent)
class CustomEventAdmin(admin.ModelAdmin):
    """Read-only: events are written by ingest alone."""

    list_display = ["name", "site", "view_id", "session_id", "created_at"]
    list_filter = ["created_at"]
    search_fields = ["name", "view_id", "site__public_id"]
    list_select_related = ["site"]
    show_full_result_count = False  # counting a large table on every page costs more than the page
    readonly_fields = [field.name for field in CustomEvent._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(EventTerm)
class EventTermAdmin(admin.ModelAdmin):
    """The names and property keys counted against a site's limits; deleting one frees its place."""

    list_display = ["value", "kind", "site", "created_at"]
    list_filter = ["kind"]
    search_fields = ["value", "site__public_id", "site__domain"]
    list_select_related = ["site"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
