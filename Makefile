# The two commands a newcomer needs:  `make run`  and  `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)
export PYTHONUNBUFFERED := 1

.PHONY: run test lint setup test-tools clean manage

$(VENV)/.installed: requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

## setup: virtualenv, requirements, a Redis server if none answers, the database (created if missing), migrations
setup: $(VENV)/.installed
	$(PY) manage.py ensure_redis
	$(PY) manage.py ensure_database
	$(PY) manage.py migrate --noinput

## manage: any manage.py command in the project's virtualenv, e.g. make manage ARGS="seed_demo --users 2000"
manage: setup
	$(PY) manage.py $(ARGS)

## run: web (http://127.0.0.1:8000), worker, scheduler, outbox relay and a local SMTP sink, together
run: setup
	$(PY) manage.py ensure_dev_admin
	honcho start -f Procfile

## test-tools: Debian's Chromium (browser tests), redis-server (the fault tests start their own servers and,
## with --sentinel, sentinels) and iproute2 (`ip netns`: worker hosts on separate network namespaces)
test-tools:
	@command -v chromium >/dev/null && command -v redis-server >/dev/null && command -v ip >/dev/null || \
		{ apt-get update -q && apt-get install -y -q chromium redis-server iproute2; }

## test: the whole suite against real Redis, real workers, a real SMTP server and Chromium
test: $(VENV)/.installed test-tools
	DJANGO_SETTINGS_MODULE=tests.settings $(PY) manage.py ensure_redis
	$(PY) -m pytest

## lint: ruff (lint and format check) and mypy with django-stubs
lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy .

clean:
	rm -rf $(VENV) var test-artifacts db.sqlite3
