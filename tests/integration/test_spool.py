import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from children import child_command, child_env, read_until
from hypothesis import given, settings
from hypothesis import strategies as st
from mlflow_servers import free_port
from skrl_runs import make_runner

from metrictap.adapting.adapter import find_adapter
from metrictap.adapting.binding import Binding
from metrictap.credentials import scrub
from metrictap.delivery.spool import Spool
from metrictap.errors import SpoolError
from metrictap.sinks import Point
from metrictap.tap.options import TapOptions


def points(count, start=0, name="loss"):
    return [Point(f"{name}{i % 3}", float(i), i, 1_700_000_000_000 + i) for i in range(start, start + count)]


def unread(spool):
    """Every point after the delivered mark."""
    found, offset = [], spool.delivered
    while True:
        batch, ends = spool.read(offset, 1000)
        if not batch:
            return found
        found += batch
        offset = ends[-1]


class TestFormat:
    def test_header_names_the_run(self, tmp_path):
        """The first line is valid JSON naming the run and where it lives, and the file reopens as a spool."""
        spool = Spool.create(tmp_path, run_id="abc123", tracking_uri="http://u:secret@127.0.0.1:5000/?token=t")
        header = json.loads(Path(spool.path).read_text().splitlines()[0])
        assert header["run_id"] == "abc123"
        assert header["tracking_uri"] == "http://127.0.0.1:5000/"
        assert "secret" not in Path(spool.path).read_text()
        assert header["delivered"] == len(Path(spool.path).read_bytes())
        again = Spool.open(spool.path)
        assert (again.run_id, again.tracking_uri) == ("abc123", "http://127.0.0.1:5000/")
        assert Path(spool.path).parent == tmp_path
        assert Path(spool.path).name.startswith("metrictap-abc123-")

    @pytest.mark.parametrize(("uri", "public"), [
        ("https://user:pass@mlflow.example.com:8443/base?sig=x#f", "https://mlflow.example.com:8443/base"),
        ("sqlite:////data/mlflow.db", "sqlite:////data/mlflow.db"),
        ("postgresql://bob:pw@db/mlflow", "postgresql://db/mlflow"),
        ("databricks", "databricks"),
        ("azureml://westeurope.api.azureml.ms/mlflow/v1.0/subscriptions/s", "azureml://westeurope.api.azureml.ms/mlflow/v1.0/subscriptions/s"),
    ])
    def test_public_uri(self, uri, public):
        """Credentials, queries and fragments never reach a spool; the rest of the URI does."""
        assert scrub(uri) == public

    def test_points_round_trip(self, tmp_path):
        """Flushed points read back equal and in order; buffered ones are not in the file yet."""
        spool = Spool.create(tmp_path, run_id="r", tracking_uri="sqlite:///x.db")
        spool.append(points(5))
        assert unread(spool) == []
        assert spool.flush() == 5
        spool.append(points(3, start=5))
        assert unread(spool) == points(5)
        spool.flush()
        assert unread(spool) == points(8)
        assert spool.count() == 8

    def test_large_flush_goes_out_whole(self, tmp_path):
        """A backlog of many megabytes, flushed as pieces, reads back complete and in order."""
        spool = Spool.create(tmp_path, run_id="r", tracking_uri="sqlite:///x.db")
        backlog = points(100_000, name="a_longer_metric_name/")
        for start in range(0, len(backlog), 20):
            spool.append(backlog[start:start + 20])
        assert spool.flush() == len(backlog)
        assert unread(spool) == backlog

    def test_mark_survives_reopening(self, tmp_path):
        """Marking rewrites the header in place: a reopened spool resumes after the mark, and stays valid JSON."""
        spool = Spool.create(tmp_path, run_id="r", tracking_uri="sqlite:///x.db")
        spool.append(points(10))
        spool.flush()
        batch, ends = spool.read(spool.delivered, 4)
        spool.mark(ends[-1])
        spool.close()
        again = Spool.open(spool.path)
        assert unread(again) == points(6, start=4)
        assert json.loads(Path(spool.path).read_text().splitlines()[0])["delivered"] == ends[-1]
        assert batch == points(4)

    def test_partial_last_line_is_ignored(self, tmp_path):
        """A line cut short by a crash is not read; the whole lines before it are."""
        spool = Spool.create(tmp_path, run_id="r", tracking_uri="sqlite:///x.db")
        spool.append(points(3))
        spool.flush()
        with Path(spool.path).open("a") as file:
            file.write('["loss0", 1.0, 9')
        assert unread(Spool.open(spool.path)) == points(3)

    def test_run_end(self, tmp_path):
        """The run's end is recorded after the points and is not read as a point."""
        spool = Spool.create(tmp_path, run_id="r", tracking_uri="sqlite:///x.db")
        spool.append(points(2))
        spool.flush()
        assert spool.run_end() is None
        spool.end_run("FINISHED", 123)
        again = Spool.open(spool.path)
        assert again.run_end() == ("FINISHED", 123)
        assert unread(again) == points(2)

    @pytest.mark.parametrize("text", ["", "hello\n", '{"format": "other"}\n', '{"delivered": 5, "format": "x"}\n'])
    def test_not_a_spool(self, tmp_path, text):
        """Any other file is refused with a message naming it."""
        path = tmp_path / "file.spool"
        path.write_text(text)
        with pytest.raises(SpoolError, match="is not a metrictap spool"):
            Spool.open(path)

    def test_lock_is_exclusive(self, tmp_path):
        """A spool being delivered cannot be claimed a second time, until its holder closes it."""
        spool = Spool.create(tmp_path, run_id="r", tracking_uri="sqlite:///x.db")
        spool.lock()
        with pytest.raises(SpoolError, match="being delivered by another process"):
            Spool.open(spool.path).lock()
        spool.close()
        Spool.open(spool.path).lock()

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.one_of(st.tuples(st.just("append"), st.integers(0, 40)), st.tuples(st.just("flush"), st.none()),
                              st.tuples(st.just("deliver"), st.integers(1, 30)))))
    def test_every_flushed_point_is_read_once_in_order(self, tmp_path_factory, operations):
        """Under any interleaving of appends, flushes and delivered batches, each flushed point is read exactly once."""
        spool = Spool.create(tmp_path_factory.mktemp("spool"), run_id="r", tracking_uri="sqlite:///x.db")
        appended, flushed, read = 0, 0, []
        for operation, size in operations:
            if operation == "append":
                spool.append(points(size, start=appended))
                appended += size
            elif operation == "flush":
                spool.flush()
                flushed = appended
            else:
                batch, ends = spool.read(spool.delivered, size)
                assert len(batch) == min(size, flushed - len(read))
                if batch:
                    spool.mark(ends[-1])
                read += batch
        assert read == points(len(read))
        assert unread(Spool.open(spool.path)) == points(flushed - len(read), start=len(read))


class TestDirectory:
    def test_skrl_experiment_directory(self):
        """By default a skrl agent's spool goes into its experiment directory, beside its checkpoints."""
        runner = make_runner("PPO", timesteps=16)
        binding = Binding.resolve(find_adapter(runner.agent), runner.agent)
        assert TapOptions.of(spool=True).spool_folder(binding.directory) == runner.agent.experiment_dir

    def test_given_default_and_off(self, tmp_path):
        """A directory given is used as is; without an adapter directory it is ./metrictap-spool; False means none."""
        runner = make_runner("PPO", timesteps=16)
        folder = Binding.resolve(find_adapter(runner.agent), runner.agent).directory
        assert TapOptions.of(spool=tmp_path).spool_folder(folder) == str(tmp_path)
        assert TapOptions.of(spool=False).spool_folder(folder) is None
        assert TapOptions.of(spool=True).spool_folder(None) == str(Path.cwd() / "metrictap-spool")


class TestCrash:
    def test_sigkill_loses_at_most_the_last_interval(self, tmp_path):
        """After SIGKILL mid-training, the spool holds every window closed up to about one flush interval before."""
        dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: every point stays in the spool
        child = subprocess.Popen(child_command("--tracking_uri", dead, "--run_id", "crashed", "--timesteps", "100000",
                                               "--spool", str(tmp_path)),
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=child_env())
        try:
            assert read_until(child.stdout, b"TRAINING") == b"TRAINING"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and _windows(tmp_path) < 30:
                time.sleep(0.2)
            time.sleep(0.7)  # somewhere inside a flush interval
            killed_ms = time.time_ns() // 1_000_000
            child.send_signal(signal.SIGKILL)
            child.wait(30)
        finally:
            child.kill()
            child.wait(30)
        assert child.returncode == -signal.SIGKILL
        spool = Spool.open(next(tmp_path.glob("*.spool")))
        windows = sorted({(point.step, point.timestamp_ms) for point in unread(spool)})
        steps = [step for step, _ in windows]
        assert steps == [16 * i for i in range(1, len(steps) + 1)]  # no window missing in between
        assert len(steps) >= 30
        assert killed_ms - windows[-1][1] <= 1000 + 1000  # one flush interval, plus a loaded machine's lag


def _windows(folder):
    files = list(folder.glob("*.spool"))
    return len({point.step for point in unread(Spool.open(files[0]))}) if files else 0
