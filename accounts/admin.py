from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from .models import EmailDelivery, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ("-date_joined",)
    list_display = ("email", "display_name", "language", "is_staff", "date_joined")
    list_filter = ("language", "is_staff", "is_superuser", "is_active")
    search_fields = ("email", "display_name", "first_name", "last_name")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("display_name", "language", "first_name", "last_name")}),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


@admin.register(EmailDelivery)
class EmailDeliveryAdmin(admin.ModelAdmin):
    list_display = ("user", "status", "failure", "attempts", "created_at", "sent_at", "last_error")
    list_filter = ("status", "failure")
    search_fields = ("user__email",)
    raw_id_fields = ("user",)
    readonly_fields = (
        "created_at",
        "sent_at",
        "claimed_until",
        "reconciled_at",
        "resend_requested_at",
        "last_error",
        "attempts",
    )
