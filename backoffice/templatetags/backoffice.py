from zoneinfo import ZoneInfo

from django import template

from backoffice import selectors
from backoffice.admin_tasks import region_name

register = template.Library()


@register.filter(name="region_name")
def region_name_filter(region) -> str:
    """The region's name in the page's language."""
    return region_name(region) if region else ""


@register.filter
def local_time(moment, time_zone: str):
    """`moment` as a naive time in `time_zone` (the template names the zone beside it)."""
    return moment.astimezone(ZoneInfo(time_zone)).replace(tzinfo=None) if moment else None


@register.filter
def task_zone(task) -> str:
    return selectors.task_time_zone(task)
