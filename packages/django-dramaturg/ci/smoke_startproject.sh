#!/usr/bin/env bash
# The startproject smoke: a brand-new Django project, the built wheel in a fresh venv, the README's quick
# start and nothing else. Usage: ci/smoke_startproject.sh WHEEL [CONSTRAINTS]
# Env: PYTHON (default python3), SMOKE_REDIS_URL (default redis://127.0.0.1:6379/15), SMOKE_NAMESPACE.
# Exits non-zero naming the step that failed.
set -euo pipefail
ci=$(cd "$(dirname "$0")" && pwd)
wheel=$(readlink -f "$1")
constraints=${2:+$(readlink -f "$2")}
redis_url=${SMOKE_REDIS_URL:-redis://127.0.0.1:6379/15}
namespace=${SMOKE_NAMESPACE:-dramaturg-smoke}
dir=$(mktemp -d /tmp/dramaturg-smoke.XXXXXX)
worker=""
step=setup

cleanup() {
	status=$?
	if [ -n "$worker" ]; then kill -TERM "$worker" 2>/dev/null && wait "$worker" 2>/dev/null || true; fi
	[ "$status" = 0 ] || { echo "smoke failed at step: $step (worker log below)" >&2; cat "$dir/worker.log" >&2 2>/dev/null || true; }
	rm -rf "$dir"
}
trap cleanup EXIT
cd "$dir"

step=venv
"${PYTHON:-python3}" -m venv venv
venv/bin/python -m pip install -q "$wheel" ${constraints:+-c "$constraints"}

step=startproject
venv/bin/django-admin startproject mysite .
venv/bin/python manage.py startapp demo
cat >demo/tasks.py <<'PY'
from pathlib import Path

from django.conf import settings
from django.tasks import task


@task
def add(a, b):
    with open(Path(settings.BASE_DIR) / "ran.txt", "a") as ran:
        ran.write(f"{a} {b}\n")
    return a + b
PY

step="quick start"
{
	echo
	cat "$ci/quickstart_settings.py"
	echo 'INSTALLED_APPS += ["demo"]'
} >>mysite/settings.py
sed -i -e "s#redis://127.0.0.1:6379/0#$redis_url#" -e "s#namespace=\"quickstart\"#namespace=\"$namespace\"#" mysite/settings.py
# the README's URL lines, as written there
printf '\nfrom django.urls import include, path\n\nurlpatterns += [path("jobs/", include("dramaturg.urls"))]\n' >>mysite/urls.py
grep -q 'include("dramaturg.urls")' mysite/urls.py

step=check
venv/bin/python manage.py check --fail-level WARNING

step=migrate
venv/bin/python manage.py migrate -v 0
DJANGO_SUPERUSER_PASSWORD=smoke-password venv/bin/python manage.py createsuperuser --noinput --username staff --email s@example.com

step=rundramatiq
venv/bin/python manage.py rundramatiq --processes 1 --threads 2 >worker.log 2>&1 &
worker=$!

step="task and console"
venv/bin/python manage.py shell <"$ci/smoke_check.py"
step=done
