"""The package tests' minimal host project: the quick start's settings, a `demo` app, the console's URLs."""
