"""Middleware hooks called only on the middleware that define them.

Dramatiq's broker calls every hook of every middleware for each signal, most of them
`Middleware`'s own no-ops: with the package's sixteen middleware that is some 80 calls per
message, ~7 % of a failing job's worker CPU and more of a no-op's. `HookDispatch` calls, per
signal, only the middleware whose class overrides that hook or that set it on the instance
before the signal was first sent; the list is worked out again whenever `broker.middleware`
changes. Errors are handled as Dramatiq's `Broker.emit_before`/`emit_after` do (dramatiq 2.2.1):
a `MiddlewareError` from a before-hook propagates, anything else is logged and the next middleware
runs. tests/unit/test_hook_dispatch.py holds the two to the same calls.
"""

from __future__ import annotations

from typing import Any

from dramatiq.middleware import Middleware, MiddlewareError


def _defines(middleware: Middleware, hook: str, base: object) -> bool:
    return getattr(type(middleware), hook, None) is not base or hook in getattr(middleware, "__dict__", ())


class HookDispatch:
    """Mixed into a `dramatiq.Broker` subclass (before it): `emit_before`/`emit_after` skip the no-op hooks."""

    middleware: list[Middleware]
    logger: Any
    # (the middleware list it was worked out for, {hook: the middleware that define it}), replaced whole
    # when the list changes, so that a thread never reads one list's hooks under another's.
    _hooks: tuple[tuple[Middleware, ...], dict[str, tuple[Middleware, ...]]] | None = None

    def _defining(self, hook: str) -> tuple[Middleware, ...]:
        current = tuple(self.middleware)
        hooks = self._hooks
        if hooks is None or hooks[0] != current:
            hooks = self._hooks = (current, {})
        defining = hooks[1].get(hook)
        if defining is None:
            base = getattr(Middleware, hook, None)
            # A hook Middleware does not have: every middleware is asked, as Dramatiq does.
            defining = current if base is None else tuple(m for m in current if _defines(m, hook, base))
            hooks[1][hook] = defining
        return defining

    def emit_before(self, signal: str, *args: Any, **kwargs: Any) -> None:
        hook = "before_" + signal
        for middleware in self._defining(hook):
            try:
                getattr(middleware, hook)(self, *args, **kwargs)
            except MiddlewareError:
                raise
            except Exception:
                self.logger.critical("Unexpected failure in %s of %r.", hook, middleware, exc_info=True)

    def emit_after(self, signal: str, *args: Any, **kwargs: Any) -> None:
        hook = "after_" + signal
        for middleware in reversed(self._defining(hook)):
            try:
                getattr(middleware, hook)(self, *args, **kwargs)
            except Exception:
                self.logger.critical("Unexpected failure in %s of %r.", hook, middleware, exc_info=True)
