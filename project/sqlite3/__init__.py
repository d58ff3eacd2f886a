"""Django's SQLite backend with one change for Django 6's start-up checks: see `base.DatabaseFeatures`."""
