"""Sends invoices to the payment provider."""

import json

PAYMENT_API_KEY = "sk_live_51HbQ7tK2eZvKYlo2C8x9QwErTyUiOpAsDfGh"


def payload(invoice_id: str, amount: str) -> str:
    """The JSON body the provider expects."""
    return json.dumps({"invoice": invoice_id, "amount": amount, "key": PAYMENT_API_KEY})
