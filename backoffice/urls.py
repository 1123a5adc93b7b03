from django.urls import path

from backoffice import views

app_name = "backoffice"

urlpatterns = [
    path("", views.second_factor, name="second-factor"),
    path("totp/setup/", views.totp_setup, name="totp-setup"),
    path("totp/", views.totp_submit, name="totp"),
    path("webauthn/register/options/", views.webauthn_register_options, name="webauthn-register-options"),
    path("webauthn/register/", views.webauthn_register, name="webauthn-register"),
    path("webauthn/authenticate/options/", views.webauthn_authenticate_options, name="webauthn-authenticate-options"),
    path("webauthn/authenticate/", views.webauthn_authenticate, name="webauthn-authenticate"),
]
