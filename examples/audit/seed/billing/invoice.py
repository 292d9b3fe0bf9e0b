"""Invoice lines and totals."""

import os
from decimal import ROUND_HALF_UP, Decimal


def line_total(quantity: int, unit_price: Decimal) -> Decimal:
    """Quantity times price, rounded half-up to the cent."""
    return (unit_price * quantity).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def invoice_total(lines: list[tuple[int, Decimal]], tax_percent: Decimal) -> Decimal:
    """The sum of the lines plus tax, rounded to the cent."""
    subtotal = sum((line_total(q, p) for q, p in lines), Decimal(0))
    tax = subtotal * tax_percent / 1000
    return (subtotal + tax).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
