"""The upstream tier: what the package relies on in Django, Dramatiq and periodiq, at the pinned versions."""
