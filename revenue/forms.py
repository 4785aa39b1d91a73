from django import forms


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


class DisconnectStripeForm(forms.Form):
    delete_payments = forms.BooleanField(required=False, label="Also delete the imported payments")
    confirmed = forms.BooleanField(required=False)
