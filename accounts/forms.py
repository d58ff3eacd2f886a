from django import forms
from django.contrib.auth.forms import BaseUserCreationForm

from .models import User, normalize_email


class SignupForm(BaseUserCreationForm):
    """Email + password twice; Django's password validators apply."""

    class Meta:
        model = User
        fields = ("email",)

    def clean_email(self) -> str:
        email = normalize_email(self.cleaned_data.get("email", ""))
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this email already exists.", code="duplicate_email")
        return email
