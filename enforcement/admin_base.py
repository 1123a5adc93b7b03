"""The bases of every admin list (enforcement's, reportin's and the back office's): one region
scoping (enforcement.roles.scope) and one read-only base. No model is registered here, so the
admin site (backoffice.site) may import the pages built on them."""

from django.contrib import admin

from enforcement import roles
from enforcement.models import Client, Region

CLIENT_SEARCH = ["client__uci", "client__family_name", "client__given_name"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records that are written by services only (append-only or system-owned)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RegionScopedAdmin(admin.ModelAdmin):
    """An officer sees the rows of their own region only: in the list, on a row's page (any
    other id answers as if it did not exist), in the choices of a form, in an export.
    `region_field` is the path from the model to its Region."""

    region_field = "client__region"

    def get_queryset(self, request):
        return roles.scope(super().get_queryset(request), request.user, self.region_field)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "client":
            kwargs["queryset"] = roles.scope(Client.objects.select_related("region"), request.user, "region")
        elif db_field.name == "region" and not roles.sees_all_regions(request.user):
            kwargs["queryset"] = Region.objects.filter(pk=request.user.region_id)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ScopedReadOnlyAdmin(RegionScopedAdmin, ReadOnlyAdmin):
    pass
