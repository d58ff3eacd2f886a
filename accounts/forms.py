"""Signup forms. Neither says whether an address is registered: that answer would
enumerate accounts; the owner of a registered address gets an email instead."""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import SetPasswordMixin

from .models import User, normalize_email


def _clean_email(form: forms.Form) -> str:
    return normalize_email(form.cleaned_data.get("email", ""))


class SignupForm(SetPasswordMixin, forms.Form):
    """The HTML form: email + password twice; Django's password validators apply."""

    email = forms.EmailField(label="Email address", max_length=254,
                             widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password1, password2 = SetPasswordMixin.create_password_fields()

    def clean_email(self) -> str:
        return _clean_email(self)

    def clean(self) -> dict[str, Any]:
        self.validate_passwords()
        # Validators that compare the password with the email see a user that is never saved.
        self.validate_password_for_user(User(email=self.cleaned_data.get("email", "")))
        return super().clean() or {}


class ApiSignupForm(forms.Form):
    """The JSON API's fields: one password, no confirmation."""

    email = forms.EmailField(max_length=254)
    password = forms.CharField(strip=False)

    def clean_email(self) -> str:
        return _clean_email(self)

    def clean(self) -> dict[str, Any]:
        password = self.cleaned_data.get("password")
        if password:
            try:
                password_validation.validate_password(password, User(email=self.cleaned_data.get("email", "")))
            except forms.ValidationError as error:
                self.add_error("password", error)
        return super().clean() or {}
