"""The supervisors' pages: the inbox of escalations waiting for their sign-off, the workload by
officer, and the reassignment of many tasks at once (an action of the triage queue). The
sign-off itself is made on the task's page (its evidence in view), through
reportin.services.escalation_decide; a reassignment through enforcement.services.task_assign,
task by task, each audited."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from backoffice import selectors
from enforcement import roles
from enforcement import services as enforcement_services
from enforcement.errors import DomainError
from enforcement.models import Region, User

# A reassignment locks and audits each task in turn: more than a few pages at once is a mistake.
REASSIGN_AT_MOST = 200
ALL_REGIONS = "all"


def _page(request, template: str, title: str, context: dict, status: int = 200) -> TemplateResponse:
    return TemplateResponse(request, template, {**admin.site.each_context(request), "title": title, **context}, status=status)


def signoff_inbox(request):
    if not selectors.signs_off(request.user):
        raise PermissionDenied
    waiting = Paginator(selectors.signoffs_waiting(user=request.user), 50).get_page(request.GET.get("p"))
    rows = [(escalation, selectors.task_time_zone(escalation.task)) for escalation in waiting]
    return _page(request, "backoffice/signoff_inbox.html", gettext("Sign-offs waiting for me"), {"page": waiting, "rows": rows})


def workload(request):
    user = request.user
    if not roles.is_supervisor(user):
        raise PermissionDenied
    regions = list(Region.objects.order_by("name"))  # supervisors work every region
    chosen = request.GET.get("region") or (user.region.code if user.region_id else ALL_REGIONS)
    region = next((r for r in regions if r.code == chosen), None)
    if region is None and chosen != ALL_REGIONS:
        return _page(request, "backoffice/workload.html", gettext("Workload by officer"), {
            "regions": regions, "chosen": chosen, "error": gettext("There is no region “%(code)s”.") % {"code": chosen},
        }, status=400)
    time_zone = region.time_zone if region else selectors.user_time_zone(user)
    now = timezone.now()
    since = selectors.week_start(now, time_zone)
    rows = selectors.workload(region=region, now=now, since=since)
    context = {
        "rows": rows, "regions": regions, "chosen": chosen, "region": region, "since": since.replace(tzinfo=None), "time_zone": time_zone,
        "totals": {key: sum(getattr(row, key) for row in rows) for key in ("open", "overdue", "resolved_this_week")},
    }
    return _page(request, "backoffice/workload.html", gettext("Workload by officer"), context)


class BulkReassignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        label=_("Assign to"), queryset=User.objects.none(),
        error_messages={"invalid_choice": _("This person cannot take these tasks: choose an officer of their region or a supervisor.")},
    )

    def __init__(self, *args, candidates, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = candidates


def may_reassign(user) -> bool:
    return roles.is_supervisor(user) and user.has_perm("enforcement.reassign_task")


def reassign_tasks(model_admin, request, queryset):
    """The triage queue's action: a form choosing whom (nobody chosen in advance), then
    task_assign for each selected task."""
    tasks = list(queryset.select_related("client", "region", "assignee").order_by("-priority", "created_at", "id")[: REASSIGN_AT_MOST + 1])
    if len(tasks) > REASSIGN_AT_MOST:
        model_admin.message_user(
            request, gettext("Select at most %(n)d tasks to reassign at a time.") % {"n": REASSIGN_AT_MOST}, messages.ERROR
        )
        return None
    candidates = selectors.reassign_candidates(region_ids={task.region_id for task in tasks})
    form = BulkReassignForm(request.POST if "apply" in request.POST else None, candidates=candidates)
    if not form.is_valid():
        context = {
            "opts": model_admin.model._meta, "tasks": tasks, "form": form, "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "many_regions": len({task.region_id for task in tasks}) > 1,
        }
        return _page(request, "backoffice/reassign_tasks.html", gettext("Reassign tasks"), context, status=400 if form.is_bound else 200)
    assignee = form.cleaned_data["assignee"]
    done = 0
    for task in tasks:
        try:
            enforcement_services.task_assign(task=task, assignee=assignee, by=request.user)
            done += 1
        except DomainError as exc:
            model_admin.message_user(request, gettext("Task %(id)d: %(message)s") % {"id": task.pk, "message": exc.message}, messages.ERROR)
    if done:
        model_admin.message_user(
            request,
            ngettext("%(n)d task assigned to %(user)s.", "%(n)d tasks assigned to %(user)s.", done) % {"n": done, "user": assignee},
            messages.SUCCESS,
        )
    return None
