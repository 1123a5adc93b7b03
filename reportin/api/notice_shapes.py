"""How a notice looks in the API (GET /api/v1/notices and /me's `pending_notices`)."""

from rest_framework import serializers

from enforcement import notifications
from enforcement.models import Notice, NoticeKind

# What the app offers beside a notice: "explain" and "contest" answer it through POST
# /api/v1/messages with `about` = "notice:<id>"; "read_messages" opens the messages.
_ACTIONS = {
    NoticeKind.MESSAGE: ["read_messages"],
    NoticeKind.MISSED_WINDOW: ["check_in_now", "explain"],
    NoticeKind.REVIEW_OUTCOME: ["contest"],
    NoticeKind.REMOTE_OFF: ["report_in_person"],
    NoticeKind.CHECKIN_REQUESTED: ["check_in_now"],
    NoticeKind.APPOINTMENT: ["see_appointments"],
}


class NoticeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField(help_text="One of: " + ", ".join(NoticeKind.values))
    title = serializers.CharField()
    body = serializers.CharField()
    created_at = serializers.DateTimeField()
    read = serializers.BooleanField()
    window = serializers.IntegerField(allow_null=True)
    check_in = serializers.IntegerField(allow_null=True)
    outcome = serializers.ChoiceField(choices=["accepted", "not_accepted"], allow_null=True, help_text="review_outcome and contest_outcome only.")
    actions = serializers.ListField(child=serializers.CharField(), help_text="What the app can offer: check_in_now, explain, contest (POST /api/v1/messages with about=notice:<id>), report_in_person, read_messages, see_appointments (GET /api/v1/appointments).")


class NoticesOutput(serializers.Serializer):
    notices = NoticeOutput(many=True)
    unread = serializers.IntegerField()


NOTICE_EXAMPLE = {
    "id": 41, "kind": "review_outcome", "title": "Your check-in was not accepted",
    "body": "An officer looked at your check-in of March 2, 2026, 9:14 a.m. and could not accept it, because the photo did not clearly show that it was you. Your officer will contact you. If you think this is wrong, you can say so from this notice.",
    "created_at": "2026-03-02T16:20:00Z", "read": False, "window": None, "check_in": 5012, "outcome": "not_accepted", "actions": ["contest"],
}


def notice_out(notice: Notice, language: str) -> dict:
    words = notifications.notice_text(notice, language)
    outcome = None
    if notice.kind == NoticeKind.REVIEW_OUTCOME:
        outcome = "accepted" if notice.details.get("confirmed") else "not_accepted"
    elif notice.kind == NoticeKind.CONTEST_OUTCOME:
        outcome = "accepted" if notice.details.get("upheld") else "not_accepted"
    actions = [] if outcome == "accepted" else _ACTIONS.get(notice.kind, [])
    return {
        "id": notice.pk, "kind": notice.kind, "title": words.subject, "body": words.body.strip(), "created_at": notice.created_at,
        "read": notice.read_at is not None, "window": notice.window_id, "check_in": notice.checkin_id, "outcome": outcome,
        "actions": actions,
    }


def unread_notices(client, language: str) -> list[dict]:
    notices = Notice.objects.filter(client=client, read_at__isnull=True).select_related("client", "client__region", "window", "appointment", "appointment__office")[:20]
    return [notice_out(notice, language) for notice in notices]
