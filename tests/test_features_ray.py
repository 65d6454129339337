"""`executor: ray`: the dataset stages on a real Ray cluster started here (2 CPUs, loopback only).

The demo corpus (and one corrupt clip) is extracted by the local executor and by Ray actors, and
the two output folders and caches are compared file by file; an actor killed mid-run through
Ray's API must change nothing; bad set-ups (no GPU for a GPU request, a wrong address, a path a
worker cannot read, no Ray installed) are one-line errors. Every worker runs one torch thread (the local
reference too), so the text encoder's float sums are done in the same order: with another thread
count they may differ in the last bit.
"""
from __future__ import annotations

import re
import shutil
import socket
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.numpy import load_file

from pipeline.features.config import ActorResources, on_cluster, stage_configs
from pipeline.features.dataset import _discard_partial, _features_job, find_media, read_label_csv, run_features, run_transcribe
from pipeline.features.extract import ClipInput
from pipeline.features.ray_executor import NAMESPACE, Access, ClipWorker, Pool, actors_that_fit, ray_module, ray_outcomes
from pipeline.files import PARTIAL
from pipeline.threads import threads_per_process

from .cli_support import pipeline
from .features_support import tiny_bert

try:  # as the executor imports it for a Ray of its own: 127.0.0.1 only, no usage report
    ray = ray_module("")
except ValueError:
    pytest.skip("Ray is not installed: the `cluster` extra (make venv installs it)", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(300)  # a Ray that cannot start fails the test instead of hanging it


@pytest.fixture(scope="module")
def cluster():
    """A Ray head on this machine, 2 CPUs, no dashboard; its address, for drivers in other processes."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    address = ray.get_runtime_context().gcs_address
    assert address.startswith("127.0.0.1:"), address
    yield address
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """raw/demo, plus a clip that is not a video."""
    data = tmp_path_factory.mktemp("corpus") / "demo"
    shutil.copytree(ROOT / "raw" / "demo", data)
    (data / "broken").mkdir()
    (data / "broken" / "1.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 truncated")
    with open(data / "label.csv", "a", encoding="utf-8") as table:
        table.write("broken,1,not a video,0.0,test\n")
    return data


@pytest.fixture(scope="module")
def bert(tmp_path_factory) -> Path:
    return tiny_bert(tmp_path_factory.mktemp("bert"))


def write_params(folder: Path, corpus: Path, bert: Path, executor: str, address: str = "", workers: int = 2) -> Path:
    params = {
        "data": {"path": str(corpus)},
        "transcribe": {"backend": "given", "out": str(folder / "transcripts"), "cache": str(folder / "cache"),
                       "executor": executor, "workers": workers},
        "features": {"out": str(folder / "features"), "cache": str(folder / "cache"), "executor": executor,
                     "workers": workers, "text": {"model": str(bert)}, "face": {"fps": 2}},
        "ray": {"address": address},
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    return folder / "params.yaml"


def settings(params: Path):
    sections = yaml.safe_load(params.read_text())
    return tuple(on_cluster(part, sections) for part in stage_configs(sections))


@pytest.fixture(scope="module")
def local(tmp_path_factory, corpus, bert) -> Path:
    """Both stages' output with the local executor (one worker of one thread, as each actor has): the reference."""
    folder = tmp_path_factory.mktemp("local")
    asr, features = settings(write_params(folder, corpus, bert, "local", workers=1))
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")
        torch.set_num_threads(1)
        try:
            run_transcribe(asr)
            run_features(features, asr)
        finally:
            torch.set_num_threads(threads)
    return folder


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_same_files(ours: Path, reference: Path) -> None:
    mine, theirs = files(ours), files(reference)
    assert sorted(mine) == sorted(theirs)
    assert [name for name in mine if mine[name] != theirs[name]] == []


def test_ray_output_equals_local_file_by_file(tmp_path, cluster, corpus, bert, local):
    params = write_params(tmp_path, corpus, bert, "ray", address=cluster)
    run_transcribe(settings(params)[0])  # in this process, on the test's Ray session
    # The features stage as a user runs it: a `pipeline` process that connects to the cluster by its address.
    result = pipeline("features", "--params", str(params))
    assert result.returncode == 0, result.stderr[-2000:]
    for name in ("transcripts", "features", "cache"):
        assert_same_files(tmp_path / name, local / name)
    failures = (tmp_path / "features" / "failures.csv").read_text().splitlines()
    assert len(failures) == 2 and failures[1].startswith("broken,1,probe,") and "not a readable media file" in failures[1]
    assert (tmp_path / "features" / "clips.csv").read_text().count("\n") == 1 + 30


def demo_clips(folder: Path, rows: int) -> Path:
    """The first `rows` clips of raw/demo: a label.csv of those rows, the video folders linked."""
    folder.mkdir(parents=True)
    lines = (ROOT / "raw" / "demo" / "label.csv").read_text(encoding="utf-8").splitlines()[: rows + 1]
    (folder / "label.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for video in {line.split(",")[0] for line in lines[1:]}:
        (folder / video).symlink_to(ROOT / "raw" / "demo" / video)
    return folder


def tensors(folder: Path) -> dict[str, dict[str, np.ndarray]]:
    return {str(p.parent.relative_to(folder)): load_file(str(p)) for p in sorted(folder.rglob("features.safetensors"))}


@pytest.mark.slow
def test_real_models_give_the_same_tensors_on_both_executors_at_one_thread(tmp_path, cluster):
    """Issue 25: both stages with `threads: 1` on three demo clips, with params.yaml's real extraction
    (faster-whisper base, MiniLM, openSMILE, faces), locally and on Ray actors that reserve 2 CPUs
    each: every transcript and every tensor of every clip (`t_times`, Whisper's word times, too)
    must be equal. An actor used to run `actor.cpus` threads whatever `threads` said.

    The file-by-file comparison above cannot see that: its transcripts are label.csv's text spread
    over each clip (`transcribe.backend: given`, so Whisper never runs), its text model is a
    random 2-layer BERT, and no params set `threads` there (the local reference gets one thread from
    OMP_NUM_THREADS, each actor from its one CPU), so the two rules never gave different counts.
    """
    data = demo_clips(tmp_path / "data", 3)
    runs = {}
    threads = torch.get_num_threads()  # the local run sets this process's; given back below
    for executor in ("local", "ray"):
        folder = tmp_path / executor
        runner = {"executor": executor, "workers": 1, "threads": 1, "actor": {"cpus": 2},
                  "out": str(folder / "out"), "cache": str(folder / "cache")}
        sections = {"data": {"path": str(data)}, "transcribe": {**runner, "out": str(folder / "transcripts")},
                    "features": runner, "ray": {"address": cluster}}
        asr, features = (on_cluster(part, sections) for part in stage_configs(sections))
        try:
            assert run_transcribe(asr).failures == [] and run_features(features, asr).failures == []
        finally:
            torch.set_num_threads(threads)
        runs[executor] = folder
    assert_same_files(runs["ray"] / "transcripts", runs["local"] / "transcripts")
    ours, reference = tensors(runs["ray"] / "out"), tensors(runs["local"] / "out")
    assert sorted(ours) == sorted(reference) and len(ours) == 3
    assert [(clip, name) for clip in ours for name in sorted(ours[clip] | reference[clip])
            if name not in ours[clip] or name not in reference[clip]
            or not np.array_equal(ours[clip][name], reference[clip][name])] == []
    assert_same_files(runs["ray"] / "out", runs["local"] / "out")


def named_actors() -> set[str]:
    return {a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if a["namespace"] == NAMESPACE}


def test_actor_killed_mid_run_changes_nothing(tmp_path, cluster, corpus, bert, local, capsys):
    # The stage runs in this process, on the test's Ray session; this thread kills one of its actors
    # as soon as the first clip is written, while both actors are busy with the next ones.
    asr, features = settings(write_params(tmp_path, corpus, bert, "ray"))
    before = named_actors()
    run = threading.Thread(target=run_features, args=(features, asr))
    run.start()
    deadline = time.time() + 120
    while not list((tmp_path / "features").glob("*/*/.key")) and time.time() < deadline:
        time.sleep(0.05)
    actors = sorted(named_actors() - before)
    assert len(actors) == 2, actors
    ray.kill(ray.get_actor(actors[0], namespace=NAMESPACE), no_restart=True)
    run.join(timeout=180)
    assert not run.is_alive()
    assert "a Ray worker died while extracting it (ActorDiedError); retrying" in capsys.readouterr().err
    assert_same_files(tmp_path / "features", local / "features")
    cache = tmp_path / "cache"
    assert [p for p in cache.rglob("*") if PARTIAL in p.name] == []
    entries = {p.with_suffix("") for p in cache.rglob("*.safetensors")}
    assert {p.with_suffix("") for p in cache.rglob("*.json") if not p.name.startswith("transcript-")} == entries


def test_an_error_outside_a_clip_step_is_raised_as_locally(tmp_path, cluster, corpus, bert):
    # A file where a video's output folder must go: the job itself fails, not one clip's step.
    raised = []
    for executor in ("local", "ray"):
        asr, features = settings(write_params(tmp_path / executor, corpus, bert, executor, workers=1))
        Path(features.out).mkdir(parents=True)
        (Path(features.out) / "demo01").write_text("")
        with pytest.raises(OSError) as error:
            run_features(features, asr)
        raised.append((type(error.value), str(error.value).replace(str(tmp_path / executor), "<out>")))
    assert raised[0] == raised[1] and raised[0][0] is NotADirectoryError


def test_a_gpu_the_cluster_lacks_is_a_one_line_error(tmp_path, cluster, corpus, bert):
    asr, features = settings(write_params(tmp_path, corpus, bert, "ray"))
    with pytest.raises(ValueError) as error:
        run_features(replace(features, actor=ActorResources(cpus=1, gpus=1)), asr)
    message = str(error.value)
    assert message.startswith("features.actor: each actor asks for 1 CPU, 1 GPU") and "2 CPU, 0 GPU" in message
    assert "\n" not in message


def test_a_path_a_worker_cannot_read_stops_the_run_naming_it(tmp_path, cluster, corpus, bert):
    # On one machine a worker sees what the driver sees, so the path it must read is named directly.
    asr, features = settings(write_params(tmp_path, corpus, bert, "ray"))
    row = read_label_csv(corpus)[0][0]
    work = [(row, ClipInput(find_media(corpus, row), row.text), asr, features)]
    missing = tmp_path / "elsewhere" / "clip.mp4"
    access = Access(missing, Path(features.out), Path(features.cache))
    with pytest.raises(ValueError, match=f"^{missing}: a Ray worker on node .* cannot read it"):
        list(ray_outcomes(work, _features_job, Pool("features", 1, 0, ActorResources(), ""), access, _discard_partial))
    assert not list(Path(features.out).glob("*/*")), "no clip may start before the check passed"


def test_the_start_up_check_names_what_a_worker_cannot_reach(tmp_path, monkeypatch):
    # The actor class as plain Python (no Ray): each failing path gets its own message.
    monkeypatch.chdir(tmp_path)  # the worker changes directory; the test's is restored afterwards
    threads = torch.get_num_threads()  # the worker sets this process's threads: keep them
    out, clip = tmp_path / "out", tmp_path / "clip.mp4"
    out.mkdir()
    clip.write_bytes(b"x")
    (out / ".ray-check-token").touch()
    worker = ClipWorker(str(tmp_path), threads)
    assert worker.check(Access(clip, out, tmp_path / "cache"), "token") == ""
    assert "does not see the driver's output folder" in worker.check(Access(clip, out, tmp_path / "cache"), "other")
    assert worker.check(Access(tmp_path / "no.mp4", out, tmp_path / "cache"), "token").startswith(f"{tmp_path / 'no.mp4'}: a Ray worker")
    (tmp_path / "file").write_text("")
    assert worker.check(Access(clip, out, tmp_path / "file" / "cache"), "token").startswith(f"{tmp_path / 'file' / 'cache'}: a Ray worker")
    gone = ClipWorker(str(tmp_path / "not-mounted"), threads)
    assert "the stage's working directory is not there" in gone.check(Access(clip, out, out), "token")


def test_a_wrong_address_is_a_one_line_error(tmp_path, corpus, bert):
    with socket.socket() as probe:  # a port on this machine that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    params = write_params(tmp_path, corpus, bert, "ray", address=f"ray://127.0.0.1:{port}")
    result = pipeline("features", "--params", str(params))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: ray.address ray://127.0.0.1:{port}: nothing answers at 127.0.0.1:{port}"), result.stderr


def test_without_ray_the_error_names_the_extra(tmp_path, corpus, bert, monkeypatch):
    asr, features = settings(write_params(tmp_path, corpus, bert, "ray"))
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed: `import ray` fails
    with pytest.raises(ValueError, match=r"Ray is not installed; install the project's `cluster` extra"):
        run_features(features, asr)


def test_an_actor_runs_the_threads_a_local_worker_would(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the driver's: a Ray on this machine passes it to its actors
    pool = Pool("features", 1, 1, ActorResources(cpus=2), "")
    assert pool.actor_threads() == threads_per_process(1, 1) == 1  # the param first, on both executors
    assert replace(pool, threads=0).actor_threads() == threads_per_process(1, 0) == 3  # then OMP_NUM_THREADS
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert replace(pool, threads=0).actor_threads() == 2  # then the actor's CPUs
    assert replace(pool, threads=0, actor=ActorResources(cpus=0.5)).actor_threads() == 1


def test_actors_that_fit_count_whole_actors_per_node():
    nodes = [{"CPU": 4.0, "memory": 8 * 2**30}, {"CPU": 2.0, "GPU": 1.0, "memory": 4 * 2**30}]
    assert actors_that_fit(nodes, {"CPU": 1.0, "GPU": 0.0, "memory": 0.0}) == 6
    assert actors_that_fit(nodes, {"CPU": 1.5, "GPU": 0.0, "memory": 3 * 2**30}) == 3  # 2 + 1: memory binds
    assert actors_that_fit(nodes, {"CPU": 1.0, "GPU": 1.0, "memory": 0.0}) == 1
    assert actors_that_fit(nodes, {"CPU": 3.0, "GPU": 1.0, "memory": 0.0}) == 0  # the GPU node has 2 CPUs
    assert actors_that_fit(nodes, {"CPU": 0.0, "GPU": 0.0, "memory": 0.0}) == -1


@pytest.mark.parametrize("sections, message", [
    ({"features": {"executor": "spark"}}, "features.executor: unknown value 'spark' (known: local, ray)"),
    ({"transcribe": {"actor": {"gpus": -1}}}, "transcribe.actor.gpus: expected a number >= 0, got -1.0"),
    ({"features": {"actor": {"tpus": 1}}}, "features.actor.tpus: unknown key"),
    ({"features": {"ray_address": "auto"}}, "features.ray_address: not set here; it follows ray.address"),
    ({"ray": {"adress": "auto"}}, "ray.adress: unknown key"),
    ({"features": {"executor": "ray", "workers": 0}}, "features.workers: executor ray needs at least 1 actor, got 0"),
    ({"transcribe": {"device": "gpu"}}, "transcribe.device: unknown value 'gpu' (known: cpu, cuda)"),
])
def test_executor_params_are_checked_naming_the_key(sections, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        asr, features = stage_configs(sections)
        on_cluster(features, sections)
