# The two commands a newcomer needs:  `make run`  and  `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)
export PYTHONUNBUFFERED := 1

.PHONY: run serve test lint setup test-tools clean

$(VENV)/.installed: requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

## setup: virtualenv, requirements, a Redis server if none answers, migrations
setup: $(VENV)/.installed
	$(PY) manage.py ensure_redis
	$(PY) manage.py migrate --noinput

## run: web (http://127.0.0.1:8000), worker, scheduler, outbox relay and a local SMTP sink, together
run: setup
	$(PY) manage.py ensure_dev_admin
	honcho start -f Procfile

## serve: the site under gunicorn (gunicorn.conf.py: gthread, 2 x cores + 1 processes); DEBUG off,
## so set SECRET_KEY and ALLOWED_HOSTS; static files are for the reverse proxy (collectstatic)
serve: setup
	DEBUG=$${DEBUG:-0} $(VENV)/bin/gunicorn -c gunicorn.conf.py

## test-tools: Debian's Chromium (browser tests) and redis-server (the fault tests start their own)
test-tools:
	@command -v chromium >/dev/null && command -v redis-server >/dev/null || \
		{ apt-get update -q && apt-get install -y -q chromium redis-server; }

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
