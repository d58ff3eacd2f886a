"""Pins on the upstream code dramaturg relies on beyond the libraries' public API.

Each entry is a SHA-256 of `inspect.getsource(...)` recorded with the pinned versions (dramatiq 2.2.1,
periodiq 0.14.0, Django 6.1.3, Python 3.12.1). A failure means the upstream object changed: re-read it
against the module named in the message (docs/upstream-pins.md says how to bump a pin), then record
the new digest here.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import smtplib

import pytest

# "module:qualified.name" -> (digest, the dramaturg module that relies on it)
PINS = {
    "dramatiq.brokers.redis:_RedisConsumer": (
        "6385e191ba400ad449a10b533b49eec9a9a354f329f9e79877084df9604a8407",
        "dramaturg.broker (its consumer subclasses it)",
    ),
    "dramatiq.brokers.redis:RedisBroker._should_do_maintenance": (
        "12c5be867fd067ada71dc514a5475f76a9747c0179445b8c9e62303dfda93419",
        "dramaturg.broker (maintenance on enqueue)",
    ),
    "dramatiq.brokers.redis:RedisBroker.__init__": (
        "f5bb0f17925f821afee3e6ba4f1401da3956623d2e9b66116f3ebe662641400f",
        "dramaturg.broker (attributes scripts, namespace, heartbeat_timeout, dead_message_ttl)",
    ),
    "dramatiq.broker:Broker.emit_before": (
        "583dfd2a7233ae1aeb0b5f254c7c16f99f927de87382779ee827731f2ce75781",
        "dramaturg.hook_dispatch.HookDispatch.emit_before (the same calls, without the no-op hooks)",
    ),
    "dramatiq.broker:Broker.emit_after": (
        "5cdc14acc687e8c7849129e29df2bb8ff3331a1c91687948499e3f55f09fa274",
        "dramaturg.hook_dispatch.HookDispatch.emit_after (the same calls, without the no-op hooks)",
    ),
    "dramatiq.common:join_all": (
        "6cbfed86aeea160c16247d098815f7b6e22bef3eb42916a19e93a7ab9acb3f45",
        "dramaturg.shutdown_budget.join_all (one deadline for all the threads, in its place)",
    ),
    "dramatiq.worker:Worker.stop": (
        "b07f970155fef59e8ba9f4cc9e86a5c77897f2de4e1bffff271709a97c05d28b",
        "dramaturg.shutdown_budget.install (Worker.stop joins its threads through dramatiq.worker.join_all)",
    ),
    "dramatiq.broker:MessageProxy.__init__": (
        "44448f8c777cb8f39211642d376428b905331d347ff7da038551a1208d01da64",
        "dramaturg.broker.message_of / exception_of (MessageProxy._message, ._exception)",
    ),
    "dramatiq.middleware.retries:Retries.after_process_message": (
        "54139ce3ab7792bdb9a3d8a75516236667e0727956c9e02e0c763aaeb18cf73c",
        "dramaturg.middleware.retries.ConfiguredRetries._decide (decides a failure as it does)",
    ),
    "periodiq:main": (
        "b43d9b731a686d23e517e5e7fcfaa4f2ef216aa652713b439f5297522d34d1cd",
        "dramaturg.periodic.run (does what main does after argument parsing)",
    ),
    "periodiq:Scheduler.loop": (
        "6236451e9b1e6cfb87441b1beb2fd2e289c383d762eea7d44ca4c144fbb02a9e",
        "dramaturg.periodic.ResilientScheduler (loop calls send_actors)",
    ),
    "periodiq:Scheduler.schedule": (
        "5a25012a01169bdcff4c2172c7a5eb1b82022c00ed1dcb78d692659305ed3acc",
        "dramaturg.periodic.ResilientScheduler",
    ),
    "periodiq:Scheduler.send_actors": (
        "1daf0dbd4003b297930ec914aa5650442f209dc29bebf1ff8294aa41835b0904",
        "dramaturg.periodic.ResilientScheduler.send_actors (overrides it)",
    ),
    "django.core.mail.backends.smtp:EmailBackend._send": (
        "0b2f5cefec475f123a42b0870af68a6c513597416381e6b03d938bbb6bf0abf4",
        "dramaturg.mail.EmailBackend._send (overrides it)",
    ),
    "django.core.mail.backends.smtp:EmailBackend.send_messages": (
        "7cc6dda1bec99c4d84c3df702e051ea349554b9618cce8508c582cd169a2947b",
        "dramaturg.mail.EmailBackend.open/close (a connection it opened is closed after the send: kept)",
    ),
    "django.core.mail.backends.smtp:EmailBackend.open": (
        "4542d3e51cbaf6c06b0c400b2b1b2cecc404d6618084de602f579bec1e90ba91",
        "dramaturg.mail.EmailBackend.open (a kept connection instead, when there is one)",
    ),
    "django.core.mail.backends.smtp:EmailBackend.prep_address": (
        "4c4d247c057b8312d3337ef6f3ef8b8f409e4ce946385a484d8b69fcac9045c8",
        "dramaturg.mail.EmailBackend.prep_address (remembers its answers: it must not use self)",
    ),
    "django.db.models.sql.compiler:SQLUpdateCompiler.execute_returning_sql": (
        "3775c803f9aff030724099b371f80b49550b16debd9a1eec9f255695aae017cf",
        "dramaturg.compiled_queries.CompiledUpdate (compiles and runs an UPDATE ... RETURNING as it does)",
    ),
    "django.db.models.sql.compiler:SQLCompiler.results_iter": (
        "d279d61b80a3a1158af6029d13d8410a7aa2a2ab25b67929dda125a6fd459313",
        "dramaturg.compiled_queries.CompiledSelect (converts the selected columns as it does)",
    ),
    "django.db.models.sql.compiler:SQLCompiler.get_converters": (
        "c6c8c1b71882ee8b32e52cd3bd808d12f1b164dbe9cca6aca30cf3375f34506c",
        "dramaturg.compiled_queries (converters found once per compiled statement)",
    ),
    "django.db.models.sql.compiler:SQLCompiler.apply_converters": (
        "c034ce3e5090aa2edcc603fbac1ca413c7d6ba4fd850f7c3437665e9d4412715",
        "dramaturg.compiled_queries (each call's rows converted with the compiler kept)",
    ),
    "django.core.mail.backends.smtp:EmailBackend.connection_class": (
        "bf9a4567d310e22abb680dfdd685306ee85a29a66bb0dd8db958245f5805e0d9",
        "dramaturg.mail.EmailBackend.connection_class (overrides it)",
    ),
}


def _resolve(path: str) -> object:
    module_name, _, qualname = path.partition(":")
    obj: object = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj.fget if isinstance(obj, property) else obj


@pytest.mark.parametrize("path", sorted(PINS))
def test_upstream_source_unchanged(path: str) -> None:
    digest, relied_on_by = PINS[path]
    source = inspect.getsource(_resolve(path))  # type: ignore[arg-type]
    assert hashlib.sha256(source.encode()).hexdigest() == digest, (
        f"{path} changed upstream: re-read it against {relied_on_by}, then record the new digest"
    )


def test_queue_name_rule_matches_dramatiqs() -> None:
    from dramatiq.actor import _queue_name_re  # test-only private access: the rule we copy

    from dramaturg.store.keys import QUEUE_NAME_RE

    assert QUEUE_NAME_RE.pattern == _queue_name_re.pattern


def test_smtplib_data_sends_then_reads_reply() -> None:
    """dramaturg.mail waits `data_timeout` for the reply to the end of DATA: it relies on SMTP.data
    sending the message and then calling getreply()."""
    source = inspect.getsource(smtplib.SMTP.data)
    assert source.index("self.send(q)") < source.index("self.getreply()", source.index("self.send(q)"))
