import subprocess
import sys
import time

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric
from mlflow_servers import free_port

from metrictap.cli.main import main
from metrictap.delivery.spool import Spool
from metrictap.sinks import Point


@pytest.fixture
def file_store(tmp_path, monkeypatch):
    """A real MLflow file store, used here only because, unlike the SQL stores, it keeps every copy of a point sent
    twice: replaying twice must not duplicate anything, and a store that deduplicates could not show it."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    return (tmp_path / "mlruns").as_uri()


def spooled(folder, run_id, uri, count):
    spool = Spool.create(folder, run_id=run_id, tracking_uri=uri)
    spool.append([Point(f"m{i % 5}", float(i), i, 1_700_000_000_000 + i) for i in range(count)])
    spool.flush()
    spool.close()
    return spool.path


def history(uri, run_id):
    client = MlflowClient(uri)
    return sorted((m.key, m.step, m.value) for key in client.get_run(run_id).data.metrics
                  for m in client.get_metric_history(run_id, key))


class TestReplay:
    def test_twice_never_duplicates(self, file_store, tmp_path, capsys):
        """Replaying a spool twice into a store that keeps duplicates stores each point once."""
        client = MlflowClient(file_store)
        run_id = client.create_run("0").info.run_id
        for _ in range(2):
            client.log_batch(run_id, metrics=[Metric("probe", 1.0, 1, 1)])
        assert len(client.get_metric_history(run_id, "probe")) == 2  # this store does not deduplicate
        path = spooled(tmp_path, run_id, file_store, 2500)
        assert main(["replay", path]) == 0
        assert f"2500 points delivered to run {run_id}, 0 refused as invalid, 0 left" in capsys.readouterr().out
        assert main(["replay", path]) == 0
        assert "0 points delivered" in capsys.readouterr().out
        points = [point for point in history(file_store, run_id) if point[0] != "probe"]
        assert points == sorted((f"m{i % 5}", i, float(i)) for i in range(2500))

    def test_resumes_after_the_mark(self, file_store, tmp_path, capsys):
        """A spool partly delivered (by a tap or an interrupted replay) is replayed from its mark on."""
        run_id = MlflowClient(file_store).create_run("0").info.run_id
        spool = Spool.open(spooled(tmp_path, run_id, file_store, 30))
        _, ends = spool.read(spool.delivered, 12)
        spool.mark(ends[-1])
        spool.close()
        assert main(["replay", spool.path, "--batch_size", "7"]) == 0
        assert "18 points delivered" in capsys.readouterr().out
        assert history(file_store, run_id) == sorted((f"m{i % 5}", i, float(i)) for i in range(12, 30))

    def test_into_another_run_and_store(self, file_store, tmp_path):
        """--run_id and --tracking_uri send a spool elsewhere than the run and server it names."""
        dead = f"http://127.0.0.1:{free_port()}"
        path = spooled(tmp_path, "gone", dead, 10)
        run_id = MlflowClient(file_store).create_run("0").info.run_id
        assert main(["replay", path, "--run_id", run_id, "--tracking_uri", file_store]) == 0
        assert len(history(file_store, run_id)) == 10

    def test_unreachable_server(self, tmp_path, capsys):
        """With the server still away, replay gives up after --timeout, exit status 1, the spool untouched."""
        path = spooled(tmp_path, "r", f"http://127.0.0.1:{free_port()}", 10)
        before = Spool.open(path).delivered
        started = time.monotonic()
        assert main(["replay", path, "--timeout", "1"]) == 1
        assert time.monotonic() - started < 1 + 5
        captured = capsys.readouterr()
        assert "0 points delivered to run r, 0 refused as invalid, 10 left" in captured.out
        assert "sink MlflowSink" in captured.err
        assert Spool.open(path).delivered == before

    @pytest.mark.parametrize("content", [None, "not a spool\n"])
    def test_bad_file(self, tmp_path, capsys, content):
        """A missing file or one that is not a spool ends the command with one line and exit status 2."""
        path = tmp_path / "x.spool"
        if content is not None:
            path.write_text(content)
        assert main(["replay", str(path)]) == 2
        error = capsys.readouterr().err
        assert error.startswith("metrictap replay: error:")
        assert error.count("\n") == 1

    def test_spool_in_use(self, tmp_path, capsys):
        """A spool that a live process is delivering is not replayed at the same time."""
        path = spooled(tmp_path, "r", "sqlite:///x.db", 3)
        holder = Spool.open(path)
        holder.lock()
        assert main(["replay", path]) == 2
        assert "is being delivered by another process" in capsys.readouterr().err
        holder.close()

    def test_command_line(self, file_store, tmp_path):
        """The installed command runs replay as a subprocess."""
        run_id = MlflowClient(file_store).create_run("0").info.run_id
        path = spooled(tmp_path, run_id, file_store, 5)
        done = subprocess.run([sys.executable, "-m", "metrictap", "replay", path], capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        assert "5 points delivered" in done.stdout


def corrupt(path, damage):
    """Replace whole point lines of the spool at *path*: {line number: new bytes}."""
    with open(path, "rb") as file:
        lines = file.read().split(b"\n")
    for number, text in damage.items():
        lines[number - 1] = text
    with open(path, "wb") as file:
        file.write(b"\n".join(lines))


def set_mark(path, mark):
    """Rewrite the header's delivered mark as a JSON value of any type, the rest of the header kept."""
    import json

    with open(path, "rb") as file:
        header, _, rest = file.read().partition(b"\n")
    fields = json.loads(header)
    fields["delivered"] = mark
    with open(path, "wb") as file:
        file.write(json.dumps(fields).encode() + b"\n" + rest)


class TestCorruptSpool:
    def test_good_lines_delivered_bad_ones_named(self, file_store, tmp_path, capsys):
        """A spool with corrupt lines delivers every good one, names each bad line and why, and exits with 1."""
        run_id = MlflowClient(file_store).create_run("0").info.run_id
        path = spooled(tmp_path, run_id, file_store, 1000)
        with open(path, "rb") as file:
            line_700 = file.read().split(b"\n")[699]
        flipped = line_700.replace(b"]", b"}")  # one flipped byte
        corrupt(path, {300: b"#$%garbage", 500: b'["m0", "abc", 1, 2]', 700: flipped, 800: b'["m1", 1.0, 2]'})
        assert main(["replay", path]) == 1
        captured = capsys.readouterr()
        assert len(history(file_store, run_id)) == 1000 - 4  # lines 2 to 1001 hold points, four of them corrupt
        assert "4 lines are not points and were skipped" in captured.err
        for reason in ("line 300 (not JSON)", "line 500 (value 'abc' is not a number)", "line 700 (not JSON)",
                       "line 800 (not a [name, value, step, time] point)"):
            assert reason in captured.err
        assert main(["replay", path]) == 0  # again: the mark is past every line, nothing is sent twice
        assert len(history(file_store, run_id)) == 996

    @pytest.mark.parametrize("mark", ["x", 10**9, -5])
    def test_bad_mark_is_refused(self, tmp_path, capsys, mark):
        """A delivered mark that is not a byte offset inside the file ends replay with one line and status 2."""
        path = spooled(tmp_path, "r", "sqlite:///x.db", 10)
        set_mark(path, mark)
        assert main(["replay", path]) == 2
        error = capsys.readouterr().err
        assert "delivered mark" in error
        assert error.count("\n") == 1
