from django import template

from humblytics.lib.money import format_money

register = template.Library()


@register.simple_tag
def money(amount, currency):
    return format_money(amount, currency)


@register.filter
def percent(value, digits: int = 1):
    if value is None:
        return "—"
    return f"{value * 100:.{digits}f}%"
