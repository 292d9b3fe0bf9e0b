"""Celsius and Fahrenheit, and the one rule every conversion keeps: nothing below absolute zero."""

from __future__ import annotations

ABSOLUTE_ZERO_C = -273.15


class TemperatureError(ValueError):
    """A temperature that cannot exist. One line."""


def check_celsius(value: float) -> float:
    """``value`` unchanged, or TemperatureError when it is below absolute zero."""
    if value < ABSOLUTE_ZERO_C:
        raise TemperatureError(f"{value} °C is below absolute zero")
    return value


def celsius_to_fahrenheit(value: float) -> float:
    """Degrees Celsius to degrees Fahrenheit."""
    return check_celsius(value) * 9 / 5 + 32


def fahrenheit_to_celsius(value: float) -> float:
    """Degrees Fahrenheit to degrees Celsius."""
    return check_celsius((value - 32) * 5 / 9)
