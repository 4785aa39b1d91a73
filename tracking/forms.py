import contextlib
import re
import zoneinfo

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm

from tracking.models import Site

_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")


def normalise_domain(value: str) -> str:
    """Accept what people paste (a URL, upper case, www.) and keep the bare host name."""
    domain = value.strip().lower()
    domain = re.sub(r"^[a-z][a-z0-9+.-]*://", "", domain)
    domain = domain.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    domain = domain.split(":", 1)[0].rstrip(".")
    if domain.startswith("www."):
        domain = domain[4:]
    with contextlib.suppress(UnicodeError):
        domain = domain.encode("idna").decode("ascii")
    return domain


_IP_RE = re.compile(r"^[0-9.]+$|^\[?[0-9a-f:]+\]?$")


def validate_domain(value: str) -> str:
    """A bare host name with a dot, or ``localhost`` (a site for trying the snippet on your machine)."""
    domain = normalise_domain(value)
    if domain == "localhost":
        return domain
    if _IP_RE.match(domain) and any(c.isdigit() for c in domain):
        raise forms.ValidationError(
            f"{domain} is an IP address. Enter the domain your pages are served on, like example.com; to "
            "try the snippet on your own machine, use localhost.",
            code="invalid_domain",
        )
    if not _DOMAIN_RE.match(domain):
        raise forms.ValidationError(
            "Enter a domain name like example.com (no path, no port), or localhost to try the snippet on "
            "your own machine.",
            code="invalid_domain",
        )
    return domain


def validate_timezone(value: str) -> str:
    name = value.strip()
    if name not in zoneinfo.available_timezones():
        raise forms.ValidationError(
            f"“{name}” is not a time zone name; use one like Europe/Berlin or UTC.", code="invalid_timezone"
        )
    return name


def timezone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones()) if "/" in name or name == "UTC"]


class SiteForm(forms.ModelForm):
    timezone = forms.CharField(
        max_length=64,
        initial="UTC",
        help_text="Days in the dashboard start at midnight in this time zone.",
        widget=forms.TextInput(attrs={"list": "timezones", "autocomplete": "off"}),
    )

    class Meta:
        model = Site
        fields = ["name", "domain", "timezone", "retention_days"]
        help_texts = {"domain": "The host name the snippet runs on, e.g. example.com. Subdomains count too."}

    def clean_domain(self) -> str:
        return validate_domain(self.cleaned_data["domain"])

    def clean_timezone(self) -> str:
        return validate_timezone(self.cleaned_data["timezone"])


class SignUpForm(UserCreationForm):
    email = forms.EmailField(required=False)

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=100, initial="API key", help_text="What uses this key, e.g. “Weekly report”."
    )


class DeleteSiteForm(forms.Form):
    confirm = forms.CharField(label="Type the domain to confirm", max_length=253)

    def __init__(self, *args, site=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.site = site

    def clean_confirm(self) -> str:
        value = self.cleaned_data["confirm"].strip().lower()
        if value != self.site.domain:
            raise forms.ValidationError(f"Type {self.site.domain} exactly to delete this site.")
        return value


class InviteForm(forms.Form):
    who = forms.CharField(
        label="User name or e-mail",
        max_length=254,
        help_text="Someone with an account is added at once; an e-mail address without one gets a link.",
    )
    role = forms.ChoiceField(
        choices=[("viewer", "Viewer: sees reports"), ("owner", "Owner: also changes settings and the team")],
        initial="viewer",
    )


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=[("viewer", "Viewer"), ("owner", "Owner")])


class ShareLinkForm(forms.Form):
    name = forms.CharField(
        max_length=100, initial="Shared dashboard", help_text="Who it is for, e.g. “Investors”."
    )
