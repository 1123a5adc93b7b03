"""`{{ value|zoned }}`: a time in the officer's zone; `{{ value|zoned:client_zone }}`: in the
client's. Both name the zone (enforcement.times.shown)."""

from django import template

from enforcement import times

register = template.Library()


@register.filter
def zoned(value, zone=None):
    return times.shown(value, zone or None)
