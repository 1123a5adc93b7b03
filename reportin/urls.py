from django.conf import settings
from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from reportin import webapp
from reportin.api import appointments, channels, device, language, messages, notices, views

app_name = "api"

urlpatterns = [
    path("api/v1/activate", views.ActivateView.as_view(), name="activate"),
    path("api/v1/consent-text", views.ConsentTextView.as_view(), name="consent-text"),
    path("api/v1/consents", views.ConsentsView.as_view(), name="consents"),
    path("api/v1/me", views.MeView.as_view(), name="me"),
    path("api/v1/device", device.DeviceRemoveView.as_view(), name="device"),
    path("api/v1/channels", channels.ChannelsView.as_view(), name="channels"),
    path("api/v1/language", language.LanguageView.as_view(), name="language"),
    path("api/v1/notices", notices.NoticesView.as_view(), name="notices"),
    re_path(r"^api/v1/notices/(?P<notice_id>[0-9]{1,18})/read$", notices.NoticeReadView.as_view(), name="notice-read"),
    path("api/v1/messages", messages.MessagesView.as_view(), name="messages"),
    re_path(r"^api/v1/messages/(?P<message_id>[0-9]{1,18})/read$", messages.MessageReadView.as_view(), name="message-read"),
    path("api/v1/appointments", appointments.AppointmentsView.as_view(), name="appointments"),
    path("api/v1/notify/receipts", channels.NotifyReceiptView.as_view(), name="notify-receipts"),
    path("api/v1/check-ins", views.CheckInsView.as_view(), name="checkins"),
    path("api/v1/check-ins/challenge", views.ChallengeView.as_view(), name="checkin-challenge"),
    # At most 18 digits: a larger id is no id of ours, and must not reach the database as one.
    re_path(r"^api/v1/check-ins/(?P<checkin_id>[0-9]{1,18})$", views.CheckInDetailView.as_view(), name="checkin"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script, so the
    # docs run under the same Content-Security-Policy as admin.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    # The reference web app for phones (README: Web app).
    path("app/", webapp.shell, name="webapp"),
    path("app/sw.js", webapp.service_worker, name="webapp-sw"),
    path("app/manifest.webmanifest", webapp.manifest, name="webapp-manifest"),
    path("app/icon-<int:size>.png", webapp.icon, name="webapp-icon"),
]

if settings.REPORTIN_BENCH_BASELINE:
    urlpatterns.append(path("api/bench/upload", views.BenchUploadView.as_view(), name="bench-upload"))
