from django.contrib import admin

from tracking.models import Membership, Site


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
