"""The log-in forms, with the user-name length actually enforced.

Django's ``AuthenticationForm`` sets the field's ``max_length`` after the field is built, so no length
validator runs: an overlong name reached ``authenticate`` and django-axes' failure record, whose
``username`` column is 255 characters, and PostgreSQL answered the log-in with a 500.
"""

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import MaxLengthValidator


class LengthCheckedLogin:
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["username"]
        field.validators.append(MaxLengthValidator(field.max_length))


class LoginForm(LengthCheckedLogin, AuthenticationForm):
    pass


class AdminLoginForm(LengthCheckedLogin, AdminAuthenticationForm):
    pass
