from django.contrib import admin

from splittests.models import SplitTest, Variant


class VariantInline(admin.TabularInline):
    model = Variant
    extra = 0


@admin.register(SplitTest)
class SplitTestAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "site",
        "page",
        "status",
        "randomization",
        "goal_type",
        "started_at",
        "stopped_at",
    ]
    list_filter = ["status", "randomization", "goal_type"]
    search_fields = ["name", "page", "site__public_id", "site__name"]
    inlines = [VariantInline]
