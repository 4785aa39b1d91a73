from rest_framework import serializers

from revenue.models import Payment


class PaymentSessionSerializer(serializers.Serializer):
    channel = serializers.CharField()
    referrer = serializers.CharField()
    utm_source = serializers.CharField()
    utm_medium = serializers.CharField()
    utm_campaign = serializers.CharField()
    entry_page = serializers.CharField()
    country = serializers.CharField()
    browser = serializers.CharField()
    os = serializers.CharField()
    device = serializers.CharField()


class PaymentSerializer(serializers.ModelSerializer):
    stripe_id = serializers.CharField(help_text="The Stripe charge id")
    created = serializers.DateTimeField(source="created_at")
    amount = serializers.IntegerField(help_text="Captured amount in minor units of `currency` (presentment)")
    settlement_amount = serializers.IntegerField(help_text="Gross in minor units of `settlement_currency`")
    refunded = serializers.IntegerField(help_text="Succeeded refunds + lost disputes, settlement currency")
    net = serializers.IntegerField(help_text="settlement_amount - refunded")
    view_id = serializers.SerializerMethodField()
    view_id_source = serializers.SerializerMethodField()
    unattributed_reason = serializers.SerializerMethodField()
    session = PaymentSessionSerializer(allow_null=True)

    class Meta:
        model = Payment
        fields = [
            "stripe_id",
            "payment_intent",
            "created",
            "amount",
            "currency",
            "settlement_amount",
            "settlement_currency",
            "refunded",
            "net",
            "status",
            "view_id",
            "view_id_source",
            "unattributed_reason",
            "session",
        ]

    def get_view_id(self, payment: Payment) -> str | None:
        return payment.view_id or None

    def get_view_id_source(self, payment: Payment) -> str | None:
        return payment.view_id_source or None

    def get_unattributed_reason(self, payment: Payment) -> str | None:
        return payment.unattributed_reason or None
