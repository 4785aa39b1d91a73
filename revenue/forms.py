from django import forms

from revenue.key_format import explain_key_shape
from revenue.stripe_client import ACCOUNT_ID_RE


class ConnectStripeForm(forms.Form):
    secret_key = forms.CharField(
        label="Stripe Secret Key",
        max_length=255,
        strip=True,
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "placeholder": "rk_live_… or sk_live_…"}),
        help_text="Your Stripe Secret Key is encrypted and stored securely. It is never shown again.",
    )
    backfill_days = forms.IntegerField(
        label="Import history (days)", min_value=1, max_value=3650, initial=90, required=False
    )

    account_id = forms.RegexField(
        label="Connected account (platforms only)",
        regex=ACCOUNT_ID_RE,
        required=False,
        strip=True,
        widget=forms.TextInput(attrs={"placeholder": "acct_…", "autocomplete": "off"}),
        error_messages={"invalid": "A connected account id looks like acct_1A2b3C…"},
        help_text="Stripe Connect platforms: the connected account whose payments this site earns, "
        "read with your platform key. Leave empty for your own account.",
    )

    def clean_secret_key(self) -> str:
        # Said before any call to Stripe, in words that tell what to copy instead.
        key = self.cleaned_data["secret_key"]
        problem = explain_key_shape(key)
        if problem:
            raise forms.ValidationError(problem, code="key_shape")
        return key


class DisconnectStripeForm(forms.Form):
    delete_payments = forms.BooleanField(required=False, label="Also delete the imported payments")
    confirmed = forms.BooleanField(required=False)
