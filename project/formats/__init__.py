"""The project's date formats (FORMAT_MODULE_PATH): a date-time shown by Django (the admin's lists and forms)
carries its time zone, as the console's do; everything not defined here is Django's own per language."""
