"""The Ray executor of the dataset stages: their clips on a pool of Ray actors, on one machine or a cluster.

Each actor is a long-lived process that loads its models once (on its first clip) and runs the very
job function the local executor runs, so outputs, cache entries and tables are written by the same
code. Clips are handed out one at a time to whichever actor is free, so a slow clip holds up no
other. An actor that dies mid-clip (killed, out of memory, its node lost) is replaced, what that
clip's attempt left half-written is removed, and the clip goes to another actor; a clip that kills
`ATTEMPTS` actors in a row is reported as failed.

Workers see the data through the paths the driver sees (a shared filesystem, mounted at the same
path on every node): each actor works in the driver's working directory, and before any clip it
checks that it can read the first clip and write to the output and cache folders, and that the
output folder is the driver's.
"""
from __future__ import annotations

import math
import os
import socket
import sys
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tqdm import tqdm

from ..threads import set_threads, threads_per_process
from .config import ActorResources

ATTEMPTS = 3  # actors a clip may see die under it before it counts as failed
NAMESPACE = "dsrf-pipeline"  # where the actors are named: `ray list actors`, or a test, can find them
CHECK_FILE = ".ray-check"  # prefix of the driver's marker in the output folder, which every actor must see
CONNECT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Pool:
    """One stage's Ray actors: params `<stage>.workers`, `<stage>.threads`, `<stage>.actor`, `ray.address`."""

    stage: str  # transcribe | features: in messages and actor names
    workers: int
    threads: int  # the param: 0 = each actor's CPUs
    actor: ActorResources
    address: str

    def request(self) -> dict[str, float]:
        """Ray's resource names and amounts for one actor."""
        return {"CPU": self.actor.cpus, "GPU": self.actor.gpus, "memory": self.actor.memory_gb * 2**30}

    def actor_threads(self) -> int:
        """Each actor's torch / CTranslate2 threads, by a local worker's rule with the actor's CPUs as
        its cores: the `threads` param, then this process's OMP_NUM_THREADS, then `actor.cpus`.
        Chosen here, not in the actor, whose OMP_NUM_THREADS is Ray's or one inherited: the count
        can change the text encoder's last bits and Whisper's word times."""
        return threads_per_process(1, self.threads, max(1, math.floor(self.actor.cpus)))


@dataclass(frozen=True)
class Access:
    """What every actor must reach before it gets a clip."""

    reads: Path  # the first clip (or label.csv of a text-only dataset)
    out: Path  # the output folder: the driver writes the tables there
    cache: Path


class ClipWorker:
    """One actor: runs jobs in the driver's working directory, on the threads the driver chose (Pool.actor_threads)."""

    def __init__(self, cwd: str, threads: int):
        self.node = socket.gethostname()
        self.cwd_error = ""
        try:
            os.chdir(cwd)
        except OSError as error:
            self.cwd_error = (f"{cwd}: the stage's working directory is not there on Ray node {self.node} "
                              f"({error.strerror}); every node must mount it at the same path")
        set_threads(requested=threads)

    def check(self, access: Access, token: str) -> str:
        """"" when this actor can do the work, else one line saying which path fails."""
        if self.cwd_error:
            return self.cwd_error
        try:
            with open(access.reads, "rb") as handle:
                handle.read(1)
        except OSError as error:
            return f"{access.reads}: a Ray worker on node {self.node} cannot read it ({error.strerror}); the data must be on a filesystem every node mounts at the same path"
        if not (access.out / f"{CHECK_FILE}-{token}").is_file():
            return f"{access.out}: a Ray worker on node {self.node} does not see the driver's output folder there; it must be on a filesystem every node mounts at the same path"
        for folder in (access.out, access.cache):
            probe = folder / f"{CHECK_FILE}-{uuid.uuid4().hex}-probe"
            try:
                folder.mkdir(parents=True, exist_ok=True)
                probe.write_bytes(b"")
                probe.unlink()
            except OSError as error:
                return f"{folder}: a Ray worker on node {self.node} cannot write there ({error.strerror})"
        return ""

    def run(self, job: Callable, item: tuple):
        return job(*item)


def ray_module(address: str):
    """Ray, or a one-line error naming the extra that installs it."""
    if not address:
        # A Ray of our own serves only this machine: its processes talk over the loopback address
        # (else Ray takes the machine's network address) and send no usage report. Ray reads both
        # when it is imported.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError:
        raise ValueError("executor ray: Ray is not installed; install the project's `cluster` extra "
                         "(pip install -e '.[cluster]', or make venv)") from None
    return ray


def ray_outcomes(work: list[tuple], job: Callable, pool: Pool, access: Access,
                 discard: Callable[[tuple], None]) -> Iterator[tuple[int, object]]:
    """(index into `work`, job(*item)) per clip as the actors finish them; a clip whose actors all
    died yields a `StepFailed` at step "worker". `discard(item)` removes what a dead attempt left."""
    from .extract import StepFailed  # here: extract imports every extractor

    ray = ray_module(pool.address)
    with connected(ray, pool):
        actors = Actors(ray, pool, access)
        try:
            queue, attempts = deque(range(len(work))), [0] * len(work)
            running: dict = {}  # ObjectRef -> (actor, index into work)
            while queue or running:
                while queue and actors.idle:
                    actor, index = actors.idle.pop(), queue.popleft()
                    running[actor.run.remote(job, work[index])] = (actor, index)
                done = actors.wait(list(running))
                if done is None:
                    continue
                actor, index = running.pop(done)
                try:
                    outcome = ray.get(done)
                except actors.died as death:
                    attempts[index] += 1
                    discard(work[index])
                    actors.replace(actor)
                    reason = f"a Ray worker died while extracting it ({type(death).__name__})"
                    if attempts[index] < ATTEMPTS:
                        tqdm.write(f"{pool.stage}: {reason}; retrying {_name(work[index])} on another actor", file=sys.stderr)
                        queue.appendleft(index)
                    else:
                        yield index, StepFailed("worker", f"{reason}, {ATTEMPTS} times")
                    continue
                except ray.exceptions.RayTaskError as error:
                    raise error.cause from None  # a bug in the job: as the local executor would raise it
                actors.idle.append(actor)
                yield index, outcome
        finally:
            actors.close()


@contextmanager
def connected(ray, pool: Pool):
    """A Ray session for the stage: a caller's own, the cluster at `ray.address`, or a new local one."""
    if ray.is_initialized():  # a library caller's session: use it, leave it open
        yield
        return
    if pool.address:
        check_address(pool.address)
        try:
            ray.init(address=pool.address, logging_level="WARNING", log_to_driver=False)
        except (ConnectionError, RuntimeError, TimeoutError) as error:
            raise ValueError(f"ray.address {pool.address}: cannot connect ({_first_line(error)})") from None
    else:
        cpus = math.ceil(pool.workers * max(pool.actor.cpus, 1.0))
        ray.init(address="local", num_cpus=cpus, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def check_address(address: str) -> None:
    """A host:port address must accept a connection within seconds (ray.init would retry for minutes)."""
    if address == "auto":
        return
    parts = urlsplit(address if "://" in address else f"ray://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if not host or not port:
        raise ValueError(f"ray.address {address!r}: expected \"\", auto, host:port or ray://host:port")
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as error:
        raise ValueError(f"ray.address {address}: nothing answers at {host}:{port} ({error.strerror or error}); "
                         "start the cluster there (`ray start --head`) or correct ray.address") from None


def actors_that_fit(nodes: list[dict[str, float]], request: dict[str, float]) -> int:
    """How many actors asking for `request` the nodes hold at once (an actor lives on one node);
    -1 when the request asks for nothing."""
    wanted = {name: amount for name, amount in request.items() if amount > 0}
    if not wanted:
        return -1
    return sum(min(int(node.get(name, 0.0) // amount) for name, amount in wanted.items()) for node in nodes)


class Actors:
    """The pool: actors come up, prove they can reach the data, run clips, and are replaced when they die."""

    def __init__(self, ray, pool: Pool, access: Access):
        self.ray, self.pool, self.access = ray, pool, access
        self.died = (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError, ray.exceptions.OutOfMemoryError)
        nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
        fit = actors_that_fit(nodes, pool.request())
        if fit == 0:
            raise ValueError(f"{pool.stage}.actor: each actor asks for {_describe(pool.request())}, and no node of the Ray "
                             f"cluster has that (its nodes: {'; '.join(_describe(n) for n in nodes)})")
        count = pool.workers if fit < 0 else min(pool.workers, fit)
        if count < pool.workers:
            tqdm.write(f"{pool.stage}: the Ray cluster holds {count} of the {pool.workers} actors asked for", file=sys.stderr)
        self.remote_class = ray.remote(ClipWorker)
        self.run_id = uuid.uuid4().hex[:8]
        self.started = 0
        self.token = uuid.uuid4().hex
        access.out.mkdir(parents=True, exist_ok=True)
        (access.out / f"{CHECK_FILE}-{self.token}").touch()
        self.idle: list = []
        self.checking: dict = {}  # ObjectRef of a start-up check -> its actor
        self.all: list = []
        for _ in range(count):
            self.start()

    def start(self) -> None:
        actor = self.remote_class.options(name=f"{self.pool.stage}-{self.run_id}-{self.started}", namespace=NAMESPACE,
                            num_cpus=self.pool.actor.cpus, num_gpus=self.pool.actor.gpus,
                            memory=self.pool.actor.memory_gb * 2**30 or None, max_restarts=0).remote(os.getcwd(), self.pool.actor_threads())
        self.started += 1
        self.all.append(actor)
        self.checking[actor.check.remote(self.access, self.token)] = actor

    def replace(self, dead) -> None:
        self.all.remove(dead)
        self.start()

    def wait(self, running: list):
        """The next finished clip's ObjectRef; None when what finished was an actor's start-up check."""
        done, _ = self.ray.wait(running + list(self.checking), num_returns=1)
        if done[0] not in self.checking:
            return done[0]
        actor = self.checking.pop(done[0])
        try:
            problem = self.ray.get(done[0])
        except self.died as error:
            raise ValueError(f"{self.pool.stage}: a Ray actor died as it started ({_first_line(error)})") from None
        if problem:
            raise ValueError(problem)
        self.idle.append(actor)
        return None

    def close(self) -> None:
        for actor in self.all:
            self.ray.kill(actor)
        (self.access.out / f"{CHECK_FILE}-{self.token}").unlink(missing_ok=True)


def _describe(resources: dict[str, float]) -> str:
    parts = [f"{resources.get('CPU', 0):g} CPU", f"{resources.get('GPU', 0):g} GPU"]
    if resources.get("memory"):
        parts.append(f"{resources['memory'] / 2**30:.1f} GiB memory")
    return ", ".join(parts)


def _first_line(error: Exception) -> str:
    return next(iter(str(error).strip().splitlines()), type(error).__name__)


def _name(item: tuple) -> str:
    return f"{item[0].video_id}/{item[0].clip_id}"
