"""The `with_zone` template filter, a builtin of every template (settings.TEMPLATES): times shown with their zone.

The filter is django-dramaturg's (its console needs it without this project), so the site's pages and the
console show times alike: "2026-11-25 16:20:01 KST".
"""

from django import template

from dramaturg.templatetags.dramaturg_tags import with_zone

register = template.Library()
register.filter("with_zone", with_zone, expects_localtime=False)
