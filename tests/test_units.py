import pytest

from loadkit.units import (format_clock, format_metric, format_ms, format_percent, parse_duration, parse_percent,
                           parse_rate)


@pytest.mark.parametrize("text,seconds", [("45s", 45), ("2m", 120), ("1m30s", 90), ("250ms", 0.25),
                                          ("1h", 3600), (3, 3), ("0.5s", 0.5), (" 10 s ", 10)])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["", "45", "s", "1x", "-3s", "2m foo", True, None, [1], -1])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


@pytest.mark.parametrize("text,rate", [("120/s", 120), ("600/m", 10), ("3600/h", 1), (5, 5), ("2.5/s", 2.5)])
def test_rates(text: object, rate: float) -> None:
    assert parse_rate(text) == pytest.approx(rate)


@pytest.mark.parametrize("bad", ["120", "fast", "/s", "-1/s", True, {"a": 1}])
def test_bad_rates(bad: object) -> None:
    with pytest.raises(ValueError, match="rate"):
        parse_rate(bad)


@pytest.mark.parametrize("text,fraction", [("1%", 0.01), ("0.4%", 0.004), (0.25, 0.25), ("100%", 1.0)])
def test_percent(text: object, fraction: float) -> None:
    assert parse_percent(text) == pytest.approx(fraction)


@pytest.mark.parametrize("bad", ["1", "150%", 5, "%", "one%"])
def test_bad_percent(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_percent(bad)


def test_formatting() -> None:
    assert format_ms(None) == "n/a"
    assert format_ms(812.4) == "812 ms"
    assert format_ms(1250) == "1.25 s"
    assert format_clock(65) == "1:05"


def test_an_slo_metric_is_shown_in_its_unit() -> None:
    assert format_metric("error_rate", 0.012) == "1.2%"
    assert format_metric("p95", 812.0) == "812 ms"
    assert format_metric("p99", 1250.0) == "1.25 s"
    assert format_metric("error_rate", None) == format_metric("p50", None) == "n/a"


@pytest.mark.parametrize("fraction,text", [
    (0.0, "0%"), (0.01, "1%"), (0.012, "1.2%"), (0.1234, "12.34%"), (0.155, "15.5%"), (1.0, "100%"),
    (0.00004, "0.004%"), (0.0000012, "0.0001%"), (0.99999, "99.999%"), (0.9999, "99.99%"), (None, "n/a")])
def test_a_share_has_at_most_two_decimals_without_trailing_zeros_and_never_reads_0_or_100_when_it_is_not(
        fraction: float | None, text: str) -> None:
    assert format_percent(fraction) == text
