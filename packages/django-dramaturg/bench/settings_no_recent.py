"""The project's settings with the record of finished messages off (DRAMATURG['CONSOLE']['RECENT_LIMIT'] = 0), per-actor
metrics on: bench/operator_view.py --drain measures what the record costs."""

from project.settings import *  # noqa: F403

DRAMATURG = {**DRAMATURG, "CONSOLE": {**DRAMATURG["CONSOLE"], "RECENT_LIMIT": 0}}  # noqa: F405
