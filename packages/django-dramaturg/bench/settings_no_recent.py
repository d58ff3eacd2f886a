"""The bench's settings (bench/settings.py) with the record of finished messages off
(DRAMATURG['CONSOLE']['RECENT_LIMIT'] = 0), per-actor metrics on: bench/operator_view.py --drain measures
what the record costs."""

from bench.settings import *  # noqa: F403
from bench.settings import DRAMATURG

DRAMATURG = {**DRAMATURG, "CONSOLE": {**DRAMATURG.get("CONSOLE", {}), "RECENT_LIMIT": 0}}
