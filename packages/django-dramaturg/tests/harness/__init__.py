"""Real parts for tests of django-dramaturg and of projects built on it: processes (workers, web,
redis-servers), an SMTP sink, a PostgreSQL server, network namespaces, reserved ports, a browser."""
