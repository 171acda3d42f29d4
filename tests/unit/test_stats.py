"""ErrorLog: counts from many threads, one warning per kind, the first error kept for strict taps."""

import logging
import threading

from hypothesis import given
from hypothesis import strategies as st

from metrictap.tap.stats import ErrorLog


class TestErrorLog:
    @given(st.lists(st.sampled_from(["sink", "update", "transition"]), max_size=60))
    def test_counts_every_error_and_keeps_the_first(self, kinds):
        """Each recorded error is counted under its kind, and the first one recorded is the one kept."""
        log = ErrorLog()
        errors = [RuntimeError(index) for index in range(len(kinds))]
        for kind, error in zip(kinds, errors, strict=True):
            log.record(kind, error)
        assert sum(log.counts.values()) == len(kinds)
        assert all(log.counts[kind] == kinds.count(kind) for kind in set(kinds))
        assert log.first is (errors[0] if errors else None)

    def test_one_warning_per_kind(self, caplog):
        """A kind that fails a thousand times warns once, with its traceback; another kind warns once too."""
        log = ErrorLog()
        with caplog.at_level(logging.WARNING, logger="metrictap"):
            for index in range(1000):
                log.record("sink", ConnectionError(index))
            log.record("update", ValueError("bad"))
        messages = [record.getMessage() for record in caplog.records]
        assert len(messages) == 2
        assert "sink error, training continues" in messages[0]
        assert "ConnectionError(0)" in messages[0]
        assert caplog.records[0].exc_info is not None
        assert "update error" in messages[1]

    def test_threads_lose_no_count(self):
        """Errors recorded from eight threads at once are all counted."""
        log = ErrorLog()

        def fail_many():
            for index in range(2000):
                log.record("sink", RuntimeError(index))

        threads = [threading.Thread(target=fail_many) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert log.counts["sink"] == 16000

    def test_clear_starts_a_new_activation(self, caplog):
        """After clear() nothing is counted or kept, and the next error warns again."""
        log = ErrorLog()
        log.record("sink", RuntimeError("old"))
        log.clear()
        assert not log.counts
        assert log.first is None
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="metrictap"):
            log.record("sink", RuntimeError("new"))
        assert ["new" in record.getMessage() for record in caplog.records] == [True]

