"""The `with_zone` template filter, a builtin of every template (settings.TEMPLATES): times shown with their zone.
The console's filter (dramaturg_tags), so the site's pages and the console show times alike."""

from __future__ import annotations

from django import template

from dramaturg.templatetags.dramaturg_tags import with_zone

register = template.Library()
register.filter("with_zone", with_zone, expects_localtime=False)
