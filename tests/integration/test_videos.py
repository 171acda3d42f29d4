"""Videos into the run as they are completed: the folder watcher, and --video through the training command."""

import filecmp
import glob
import os
import time

import mlflow
import pytest
from mlflow import MlflowClient

from metrictap.cli.main import main
from metrictap.cli.runs import Uploader
from metrictap.cli.videos import VideoWatcher

POLL = 0.5


def wait_for(condition, seconds=20.0):
    """Wait until *condition()* holds, at most *seconds*; whether it did."""
    end = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


class TestVideoWatcher:
    def test_a_video_goes_up_once_complete_and_the_rest_at_the_end(self, tmp_path):
        """A file still growing is not uploaded; once unchanged over two looks it is; what is left goes at exit."""
        uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
        run_id = MlflowClient(uri).create_run("0").info.run_id
        folder = tmp_path / "videos" / "train"
        folder.mkdir(parents=True)
        uploader = Uploader(uri, run_id)
        first, second = folder / "rl-video-step-0.mp4", folder / "rl-video-step-100.mp4"
        with VideoWatcher(str(tmp_path / "videos"), uploader, poll=POLL):
            for chunk in range(40):  # an encoder writing for 4 looks: the file changes between every two
                with first.open("ab") as file:
                    file.write(bytes([chunk]) * 1000)
                time.sleep(POLL / 10)
            assert uploader.uploaded == []
            assert wait_for(lambda: uploader.uploaded == [str(first)])
            second.write_bytes(b"last clip")  # written just before training ends
        assert uploader.close(30)
        assert uploader.uploaded == [str(first), str(second)]
        stored = mlflow.artifacts.download_artifacts(artifact_uri=f"runs:/{run_id}/videos", tracking_uri=uri,
                                                     dst_path=str(tmp_path / "downloaded"))
        assert sorted(os.listdir(stored)) == ["rl-video-step-0.mp4", "rl-video-step-100.mp4"]
        assert filecmp.cmp(os.path.join(stored, first.name), first, shallow=False)


@pytest.mark.skrl
class TestTrainVideo:
    def test_gymnasium_record_video_clips_reach_the_run(self):
        """--video records a clip every --video_interval steps and each is in the run's videos/, as written."""
        assert main(["train", "--task", "Pendulum-v1", "--num_envs", "2", "--timesteps", "300", "--no-system",
                     "--video", "--video_length", "20", "--video_interval", "100"]) == 0
        written = sorted(glob.glob("logs/skrl/Pendulum-v1/*/videos/train/*.mp4"))
        assert [os.path.basename(path) for path in written] == [
            "rl-video-step-0.mp4", "rl-video-step-100.mp4", "rl-video-step-200.mp4"]
        uri = f"sqlite:///{os.path.abspath('mlflow.db')}"
        client = MlflowClient(uri)
        (run,) = client.search_runs([client.get_experiment_by_name("Pendulum-v1").experiment_id])
        stored = mlflow.artifacts.download_artifacts(artifact_uri=f"runs:/{run.info.run_id}/videos",
                                                     tracking_uri=uri, dst_path="downloaded")
        assert sorted(os.listdir(stored)) == [os.path.basename(path) for path in written]
        for path in written:
            assert filecmp.cmp(os.path.join(stored, os.path.basename(path)), path, shallow=False)
