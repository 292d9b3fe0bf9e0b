from decimal import Decimal

from billing.invoice import invoice_total, line_total


def test_line_total_rounds_half_up():
    assert line_total(3, Decimal("0.125")) == Decimal("0.38")


def test_invoice_total_adds_tax():
    lines = [(2, Decimal("10.00")), (1, Decimal("5.00"))]
    assert invoice_total(lines, Decimal(20)) == Decimal("30.00")
