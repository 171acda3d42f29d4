import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metrictap.tap.schedule import Every, parse_every


class TestParseEvery:
    @pytest.mark.parametrize(("given", "iterations"), [("step", 1), ("rollout", 1), ("balanced", 10),
                                                        (" Balanced ", 10), (7, 7), ("25", 25)])
    def test_counts(self, given, iterations):
        """Presets and integers become a count of iterations."""
        assert parse_every(given).iterations == iterations
        assert parse_every(given).seconds is None

    @pytest.mark.parametrize(("given", "seconds"), [("30s", 30.0), ("500ms", 0.5), ("2m", 120.0), ("1.5 h", 5400.0),
                                                     (dt.timedelta(seconds=45), 45.0)])
    def test_durations(self, given, seconds):
        """Durations become a wall-clock interval."""
        assert parse_every(given).seconds == pytest.approx(seconds)

    @pytest.mark.parametrize("given", ["fast", 0, -3, True, 1.5, "0s", "10 parsecs", None, ""])
    def test_rejects_with_choices(self, given):
        """Anything else is a ValueError that names the value and lists what is accepted."""
        with pytest.raises(ValueError, match="balanced") as info:
            parse_every(given)
        assert repr(given) in str(info.value)

    def test_every_passes_through(self):
        """An Every instance is used as it is."""
        every = Every(iterations=3, label="3")
        assert parse_every(every) is every


class TestDue:
    @given(st.integers(1, 1000), st.integers(0, 2000))
    def test_count_schedule(self, n, iterations):
        """A count schedule is due exactly once N iterations have passed, whatever the time."""
        assert Every(iterations=n).due(iterations, 1e9) is (iterations >= n)

    @given(st.floats(0.001, 1e4), st.floats(0, 2e4))
    def test_time_schedule(self, interval, elapsed):
        """A time schedule is due once its interval has elapsed, whatever the iterations."""
        assert Every(seconds=interval).due(0, elapsed) is (elapsed >= interval)
