import pytest

from units.convert import TemperatureError, celsius_to_fahrenheit, fahrenheit_to_celsius


def test_water_boils_at_212_fahrenheit():
    assert celsius_to_fahrenheit(100) == 212


def test_body_temperature_round_trips():
    assert fahrenheit_to_celsius(celsius_to_fahrenheit(37.0)) == pytest.approx(37.0)


def test_below_absolute_zero_is_refused():
    with pytest.raises(TemperatureError, match="below absolute zero"):
        celsius_to_fahrenheit(-300)
    with pytest.raises(TemperatureError):
        fahrenheit_to_celsius(-500)
