# The two commands a newcomer needs:  `make run`  and  `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)
export PYTHONUNBUFFERED := 1

# Django 6.1 needs Python >= 3.12: the first candidate that runs and is new enough (a pyenv shim
# on PATH may exist and still refuse to run), from PATH, then pyenv's own installs; never one
# inside $(VENV) itself. `make PYTHON=/path/to/python3.12 ...` chooses one.
PYTHON ?=
PYTHON_CANDIDATES := $(or $(PYTHON),python3.13 python3.12 python3 \
	$(sort $(wildcard $(HOME)/.pyenv/versions/3.1[23]*/bin/python3.1[23] /root/.pyenv/versions/3.1[23]*/bin/python3.1[23])))
PYTHON_EXE := $(shell for p in $(PYTHON_CANDIDATES); do c=$$(command -v "$$p") || continue; \
	[ "$${c#$(abspath $(VENV))/}" = "$$c" ] || continue; \
	"$$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1 && { echo "$$c"; break; }; done)
PY_VERSION := $(if $(PYTHON_EXE),$(shell "$(PYTHON_EXE)" -c 'import sys; print("%d.%d" % sys.version_info[:2])'))
# Named for the Python it was built with: another Python (or a venv of an older one) rebuilds it.
INSTALLED = $(VENV)/.installed-py$(or $(PY_VERSION),none)

.PHONY: run serve venv test package-test package-venv package-test-postgres test-unit test-worker test-integration test-browser test-postgres test-redis lint setup manage test-tools clean python

## python: fail with one line unless a Python >= 3.12 was found
python:
	@test -n "$(PY_VERSION)" || \
		{ echo "No Python >= 3.12 found (tried: $(PYTHON_CANDIDATES)); install python3.12+ or run make PYTHON=/path/to/python3.12" >&2; exit 1; }

$(VENV)/.installed-py%: requirements.txt | python
	@if [ "$$($(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" != "$(PY_VERSION)" ]; then \
		echo "Creating $(VENV) with $(PYTHON_EXE) (Python $(PY_VERSION))"; rm -rf $(VENV); "$(PYTHON_EXE)" -m venv $(VENV); fi
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	rm -f $(VENV)/.installed*
	touch $@

## venv: the project's virtualenv with requirements.txt (.venv), built when missing or stale
venv: $(INSTALLED)
## setup: virtualenv, requirements, a Redis server if none answers, the database (created if missing), migrations
setup: $(INSTALLED)
	$(PY) manage.py ensure_redis
	$(PY) manage.py ensure_database
	$(PY) manage.py migrate --noinput

## manage: any manage.py command in the project's virtualenv, e.g. make manage ARGS="seed_demo --users 2000"
manage: setup
	$(PY) manage.py $(ARGS)

## run: web (http://127.0.0.1:8000), worker, scheduler, outbox relay and a local SMTP sink, together
run: setup
	$(PY) manage.py ensure_dev_admin
	@# honcho's line prefixes in the project's TIME_ZONE, as the processes' own lines (dramaturg.log.ZonedFormatter)
	TZ="$$($(PY) manage.py diffsettings | sed -n "s/^TIME_ZONE = '\(.*\)'.*/\1/p")" honcho start -f Procfile

## serve: the site under gunicorn (gunicorn.conf.py: gthread, 2 x cores + 1 processes); DEBUG off,
## so set SECRET_KEY and ALLOWED_HOSTS; static files are for the reverse proxy (collectstatic)
serve: setup
	DEBUG=$${DEBUG:-0} $(VENV)/bin/gunicorn -c gunicorn.conf.py

## test-tools: Debian's Chromium (browser tests), redis-server (the fault tests start their own servers and,
## with --sentinel, sentinels), iproute2 (`ip netns`: worker hosts on separate network namespaces) and
## fonts-nanum (Korean glyphs on the Korean pages' screenshots)
test-tools:
	@command -v chromium >/dev/null && command -v redis-server >/dev/null && command -v ip >/dev/null && \
		fc-list :lang=ko | grep -q . || \
		{ apt-get update -q && apt-get install -y -q chromium redis-server iproute2 fonts-nanum; }

## test: the whole suite against real Redis, real workers, a real SMTP server and Chromium: the unit
## tier, then the worker tier, then the others (integration, browser and any test file still in tests/
## itself), each pytest run in TEST_WORKERS parallel pytest-xdist workers with their own Redis database
## and namespace, test database, session worker and ports (tests/settings.py, tests/ports.py). Separate
## runs: a tier's session fixtures (a real worker on the default queues) never run under another's tests.
TEST_WORKERS ?= 4
XDIST = -n $(TEST_WORKERS) --dist worksteal
# $(call tiers,python): the three runs of ./tests (the project's, or the package's in its directory), all of
# them even when one fails
tiers = status=0; \
	$(1) -m pytest tests/unit $(ARGS) || status=1; \
	$(1) -m pytest tests/worker $(XDIST) $(ARGS) || status=1; \
	$(1) -m pytest tests --ignore=tests/unit --ignore=tests/worker $(XDIST) $(ARGS) || status=1; \
	exit $$status
test: $(INSTALLED) test-tools test-redis
	@$(call tiers,$(PY))

## test-unit: tests/unit: no Redis, no process (a unit test that opens either fails), in seconds
test-unit: $(INSTALLED)
	$(PY) -m pytest tests/unit $(ARGS)

## test-worker: tests/worker: real Redis, Dramatiq workers inside the test process
test-worker: $(INSTALLED) test-redis
	$(PY) -m pytest tests/worker $(XDIST) $(ARGS)

## test-integration: tests/integration: real rundramatiq, web, relay, scheduler and redis-server processes, faults
test-integration: $(INSTALLED) test-tools test-redis
	$(PY) -m pytest tests/integration $(XDIST) $(ARGS)

## test-browser: tests/chromium: the pages in headless Chromium over a live server and a real worker
test-browser: $(INSTALLED) test-tools test-redis
	$(PY) -m pytest tests/chromium $(XDIST) $(ARGS)

## test-postgres: the tiers that touch the database, again on PostgreSQL at DATABASE_URL (.ci/run starts
## a server when none answers): tests/worker and tests/integration. Not run twice, because they ran in
## `make test` and would run the same whatever DATABASE_URL says: tests/unit (no database, by rule);
## tests/chromium (the pages in a browser: the database under them is the other tiers' subject); and
## the files that never use the test database: test_netns (Redis and processes only), test_database_faults
## (each test on a database of its own, SQLite and the suite's own PostgreSQL server, in both runs alike),
## test_readme_commands (the READMEs, and ensure_database against 127.0.0.1:5432 itself). Nor two tests of
## the real password hasher (~70 s of CPU between them), whose subject is not PostgreSQL: a registered address
## answered in the same time as a new one (the request's time), and 100 signups, 50 at once, on the embedded
## SQLite's one write lock (PostgreSQL's concurrent signups: the 1,000-signup burst, and 20 at once on one
## address, both run here).
## The broker-only tests are the package's (make package-test).
NO_DATABASE = tests/unit tests/chromium tests/integration/test_netns.py tests/integration/test_database_faults.py \
	tests/integration/test_readme_commands.py
NOT_AGAIN = $(addprefix tests/integration/test_signup_processes.py::, \
	test_a_registered_address_gets_the_same_answer_in_the_same_time \
	test_100_signups_50_at_once_with_the_real_hasher_no_5xx_100_emails_once_each)
## The chaos soak is part of it; `make test-postgres SOAK=separate` leaves it out, for a run that has it in
## `make test-postgres-soak` beside (.ci/run: the soak mostly waits out its 1.5 minutes, so it runs beside the
## CPU-bound runs rather than at the end of the chain, alone).
SOAK ?= included
CHAOS_SOAK := tests/integration/test_chaos.py
test-postgres: $(INSTALLED) test-tools test-redis
	@case "$$DATABASE_URL" in postgres*) ;; *) echo "test-postgres: set DATABASE_URL=postgres://..." >&2; exit 1;; esac
	@case "$(SOAK)" in included|separate) ;; *) echo "test-postgres: SOAK is included or separate" >&2; exit 1;; esac
	@status=0; \
	$(PY) -m pytest tests/worker $(XDIST) $(ARGS) || status=1; \
	$(PY) -m pytest tests --ignore=tests/worker $(addprefix --ignore=,$(NO_DATABASE)) $(addprefix --deselect=,$(NOT_AGAIN)) \
		$(if $(filter separate,$(SOAK)),--ignore=$(CHAOS_SOAK)) $(XDIST) $(ARGS) || status=1; \
	exit $$status

## test-postgres-soak: the chaos soak alone on PostgreSQL at DATABASE_URL (one pytest process: the soak starts
## its own server, which its database faults restart)
.PHONY: test-postgres-soak
test-postgres-soak: $(INSTALLED) test-tools test-redis
	@case "$$DATABASE_URL" in postgres*) ;; *) echo "test-postgres-soak: set DATABASE_URL=postgres://..." >&2; exit 1;; esac
	$(PY) -m pytest $(CHAOS_SOAK) $(ARGS)

test-redis: $(INSTALLED)
	@DJANGO_SETTINGS_MODULE=tests.settings $(PY) manage.py ensure_redis

## package-test: the django-dramaturg wheel (pip wheel: PEP 517 with hatchling), installed in a fresh
## var/pkg-venv with the project's pinned versions, and the package's tests (packages/django-dramaturg/tests,
## in its host project) run against that install: its src layout keeps the source tree off the path.
## The same three runs as `make test` (unit; worker; integration, browser and upstream), in TEST_WORKERS
## pytest-xdist workers, each with its own Redis database and namespace and its own SQLite file
## (tests/host/settings.py, harness/xdist.py); the browser tests drive Debian's chromium.
PKG := packages/django-dramaturg
PKG_PY := var/pkg-venv/bin/python
package-test: package-venv test-tools test-redis
	cd $(PKG) && export DRAMATURG_TESTS_EXPECT_WHEEL=1 PYTHONPATH= && $(call tiers,../../$(PKG_PY))
## package-wheel: the wheel built afresh in var/dist, and var/constraints.txt (the project's pinned versions)
.PHONY: package-wheel
package-wheel: $(INSTALLED)
	rm -rf var/dist && $(PY) -m pip wheel -q --no-deps -w var/dist $(PKG)
	sed -E -e '/^-e /d' -e 's/\[[a-z,]+\]//' requirements.txt > var/constraints.txt  # pip refuses extras here
## package-venv: that wheel installed in a fresh var/pkg-venv (what package-test runs against)
package-venv: package-wheel
	rm -rf var/pkg-venv
	"$(PYTHON_EXE)" -m venv var/pkg-venv
	$(PKG_PY) -m pip install -q var/dist/django_dramaturg-*.whl pytest pytest-django pytest-xdist \
		aiosmtpd "psycopg[binary]" playwright -c var/constraints.txt
## package-test-postgres: the package's tiers that touch the database (tests/worker, tests/integration), again
## against the installed wheel on PostgreSQL at DATABASE_URL, in the var/pkg-venv of an earlier package-venv.
## Not run twice: tests/unit (no database), tests/chromium and tests/upstream (Dramatiq's own suite: the broker
## only), and the files that never use the test database.
PKG_NO_DATABASE = tests/integration/test_postgres_server.py tests/integration/test_wheel_contents.py
package-test-postgres: test-tools test-redis
	@case "$$DATABASE_URL" in postgres*) ;; *) echo "package-test-postgres: set DATABASE_URL=postgres://..." >&2; exit 1;; esac
	@test -x $(PKG_PY) || { echo "package-test-postgres: run make package-venv (or package-test) first" >&2; exit 1; }
	@cd $(PKG) && export DRAMATURG_TESTS_EXPECT_WHEEL=1 PYTHONPATH= && status=0; \
	../../$(PKG_PY) -m pytest tests/worker $(XDIST) $(ARGS) || status=1; \
	../../$(PKG_PY) -m pytest tests/integration $(addprefix --ignore=,$(PKG_NO_DATABASE)) $(XDIST) $(ARGS) || status=1; \
	exit $$status
## lint: ruff (lint and format check) and mypy with django-stubs
lint: $(INSTALLED)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy .

clean:
	rm -rf $(VENV) var test-artifacts db.sqlite3

## package-smoke: a fresh `django-admin startproject` with the built wheel in a fresh venv and the README's
## quick start (packages/django-dramaturg/ci/smoke_startproject.sh): check, migrate, a @task run by
## rundramatiq (none for a rolled-back transaction), its result, the console for staff only
.PHONY: package-smoke
package-smoke: package-wheel test-redis
	PYTHON="$(PYTHON_EXE)" SMOKE_REDIS_URL=$${TEST_REDIS_URL:-redis://127.0.0.1:6379/15} \
		packages/django-dramaturg/ci/smoke_startproject.sh var/dist/django_dramaturg-*.whl var/constraints.txt
