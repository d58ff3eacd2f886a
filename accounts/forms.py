"""Account forms. Neither signup nor password reset says whether an address is registered:
that answer would enumerate accounts; the owner of a registered address gets an email instead."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm, SetPasswordForm, SetPasswordMixin
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from dramaturg import outbox

from .models import User, normalize_email
from .tasks import decide_password_reset
from .validators import validate_deliverable_email, validate_utf8


def _clean_email(form: forms.Form) -> str:
    return normalize_email(form.cleaned_data.get("email", ""))


class Utf8TextMixin(forms.BaseForm):
    """Every field refuses text that cannot be encoded in UTF-8 (a lone surrogate from JSON's
    "\\udfff"): a field error, before the value reaches a hasher, the database or a mail."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.validators.append(validate_utf8)


class DeliverableEmailField(forms.EmailField):
    """An address a mail server is given (accounts.validators): the addresses we send mail to."""

    default_validators = [validate_deliverable_email]


def _email_field(**kwargs: Any) -> DeliverableEmailField:
    return DeliverableEmailField(label=_("Email address"), max_length=254, **kwargs)


def _language_field() -> forms.ChoiceField:
    return forms.ChoiceField(label=_("Language of our emails"), choices=settings.LANGUAGES, required=False)


class SignupForm(Utf8TextMixin, SetPasswordMixin, forms.Form):
    """The HTML form: email, optional display name, the emails' language, password twice."""

    email = _email_field(widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    display_name = forms.CharField(
        label=_("Your name (optional)"),
        max_length=150,
        required=False,
        help_text=_("How our emails greet you."),
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    language = _language_field()
    password1, password2 = SetPasswordMixin.create_password_fields()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The page's language (cookie or Accept-Language) unless the user picks another.
        self.fields["language"].initial = (get_language() or settings.LANGUAGE_CODE).split("-")[0]

    def clean_email(self) -> str:
        return _clean_email(self)

    def clean_language(self) -> str:
        return self.cleaned_data.get("language") or (get_language() or settings.LANGUAGE_CODE).split("-")[0]

    def clean(self) -> dict[str, Any]:
        self.validate_passwords()
        # Validators that compare the password with the email see a user that is never saved.
        self.validate_password_for_user(User(email=self.cleaned_data.get("email", "")))
        return super().clean() or {}


class ApiSignupForm(Utf8TextMixin, forms.Form):
    """The JSON API's fields: one password, no confirmation; an optional display name and language."""

    email = _email_field()
    password = forms.CharField(strip=False)
    display_name = forms.CharField(max_length=150, required=False)
    language = _language_field()

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


class LoginForm(Utf8TextMixin, AuthenticationForm):
    """Django's sign-in form, labelled for an email address."""

    username = forms.EmailField(
        label=_("Email address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )


class AccountForm(Utf8TextMixin, forms.ModelForm):
    """What a user may change on the account page."""

    class Meta:
        model = User
        fields = ("display_name", "language")
        labels = {"display_name": _("Your name (optional)"), "language": _("Language of our emails")}


class OutboxPasswordResetForm(Utf8TextMixin, PasswordResetForm):
    """Django's password reset form, but the request only records the address: one outbox row for the
    `decide_password_reset` actor, whatever the address, so that the answer and its time say nothing about
    it. The worker sends the email (at most one per user per PASSWORD_RESET_EMAIL_INTERVAL_S) as plain Django
    mail through the outbox backend, never the request. An address no mail server should be given is a field
    error, as at signup (the same for every such address: it says nothing)."""

    email = _email_field(widget=forms.EmailInput(attrs={"autocomplete": "email"}))

    def save(self, *args: Any, **kwargs: Any) -> None:
        # The request's domain, token generator and templates are not used: the worker builds the
        # link from SITE_URL when it renders the email (accounts.emails), in the user's language.
        outbox.enqueue_on_commit(decide_password_reset, normalize_email(self.cleaned_data["email"]))


class ResetSetPasswordForm(Utf8TextMixin, SetPasswordForm):
    """Django's new-password form of the reset link, refusing text that is not valid UTF-8."""
