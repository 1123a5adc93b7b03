"""Staff sign-in: failed-login throttles and locks, and second factors (WebAuthn, TOTP)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ThrottleScope(models.TextChoices):
    USERNAME = "username", _("Username")
    ADDRESS = "address", _("Address")


class LoginThrottle(models.Model):
    """Failed sign-ins counted per username and per client address. Past a few failures each
    further attempt must wait a growing delay; past the lock threshold nothing gets in (not
    even the right password) until a supervisor clears the lock."""

    scope = models.CharField(max_length=16, choices=ThrottleScope.choices)
    key = models.CharField(max_length=150, help_text=_("The username typed (lower case) or the client address."))
    failures = models.PositiveIntegerField(default=0)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    # The next attempt is refused unread before this time (the growing delay).
    blocked_until = models.DateTimeField(null=True, blank=True)
    locked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_failure_at"]
        verbose_name = _("sign-in throttle")
        verbose_name_plural = _("sign-in throttles")
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="login_throttle_scope_key")]
        permissions = [("clear_login_lock", _("Can clear a sign-in lock"))]
        indexes = [models.Index(fields=["locked_at"])]

    def __str__(self):
        return f"{self.get_scope_display()} {self.key}"

    @property
    def is_locked(self) -> bool:
        return self.locked_at is not None


class WebAuthnCredential(models.Model):
    """A passkey or security key registered by a staff member (the primary second factor)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webauthn_credentials")
    credential_id = models.CharField(max_length=1400, unique=True, help_text=_("base64url"))
    public_key = models.BinaryField()
    sign_count = models.PositiveBigIntegerField(default=0)
    name = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["user", "created_at"]
        verbose_name = _("security key")
        verbose_name_plural = _("security keys")

    def __str__(self):
        return self.name or f"key {self.pk}"


class TotpDevice(models.Model):
    """An authenticator app (RFC 6238), the fallback second factor. The shared secret is
    encrypted with the biometric key ring; `confirmed_at` is set once a first code matched."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="totp_device")
    secret = models.BinaryField(help_text=_("Encrypted base32 secret."))
    created_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # The 30-second step of the last accepted code: a code is good once (no replay).
    last_step = models.BigIntegerField(default=0)
    # Encrypted values bound to this row (enforcement.crypto.record_label); `reencrypt` walks them.
    SEALED_VALUES = ("secret",)

    class Meta:
        verbose_name = _("authenticator app")
        verbose_name_plural = _("authenticator apps")

    def __str__(self):
        return f"authenticator app of {self.user}"
