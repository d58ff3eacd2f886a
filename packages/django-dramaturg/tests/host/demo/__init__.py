"""The host project's app: `@task` functions and actors the package tests run in real workers."""
