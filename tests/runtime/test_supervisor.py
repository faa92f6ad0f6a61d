"""Instances and their supervisor, with real child processes: start errors, crashes, restarts,
backoff, giving up, and reaping whole process groups."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from helpers import own_server, until
from mcpfleet.config import RestartPolicy, ServerSpec
from mcpfleet.exceptions import ProtocolError, ServerStartError, ServerUnavailableError
from mcpfleet.home import FleetHome
from mcpfleet.install import LaunchSpec
from mcpfleet.runtime import Instance, InstanceState, Supervisor
from mcpfleet.runtime.state import ServerState, StateSnapshot

pytestmark = pytest.mark.timeout(60)


class FastClock:
    """Real monotonic time, but sleeps are recorded and only yield: backoff without waiting."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.offset = 0.0

    def monotonic(self) -> float:
        import time

        return time.monotonic() + self.offset

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.offset += seconds
        await asyncio.sleep(0)


def launch_of(spec: ServerSpec) -> LaunchSpec:
    assert spec.package.type == "command"
    return LaunchSpec(command=(spec.package.command, *spec.args))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purposes once its parent reaped it.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def gone(pid: int, within: float = 5.0) -> bool:
    for _ in range(int(within / 0.05)):
        if not alive(pid):
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.fixture
def home(tmp_path: Path) -> FleetHome:
    return FleetHome.at(tmp_path / "fleet").ensure()


@pytest.fixture
async def supervisors() -> AsyncIterator[list[Supervisor]]:
    made: list[Supervisor] = []
    yield made
    for supervisor in made:
        await supervisor.stop()


def supervisor_for(home: FleetHome, made: list[Supervisor], *args: str, **kw: object) -> Supervisor:
    spec = own_server("toy.py", *args, **kw)
    supervisor = Supervisor(
        "toy",
        spec,
        launch_of(spec),
        home,
        env={"TOY_SECRET": "s3cret"},
        version="1",
        clock=FastClock(),
        rng=random.Random(1),
    )
    made.append(supervisor)
    return supervisor


async def test_instance_runs_in_data_dir_with_env_and_logs_stderr(home: FleetHome) -> None:
    spec = own_server("toy.py")
    instance = Instance("toy", 0, spec, launch_of(spec), home, env={"A": "1"}, version="1")
    await instance.start()
    try:
        assert instance.state is InstanceState.READY and instance.pid
        assert Path(f"/proc/{instance.pid}/cwd").resolve() == home.data_dir("toy")
        environ = Path(f"/proc/{instance.pid}/environ").read_bytes().split(b"\0")
        assert b"A=1" in environ
        assert f"MCPFLEET_SERVER_DATA={home.data_dir('toy')}".encode() in environ
        assert os.getpgid(instance.pid) == instance.pid  # leads its own process group
        assert (await instance.call_tool("echo", {"text": "x"}))["content"][0]["text"] == "x"
        assert instance.snapshot()["state"] == "ready"
    finally:
        await instance.stop()
    assert "toy: starting in normal mode" in (home.log_dir("toy") / "toy-0.log").read_text()
    assert instance.state is InstanceState.STOPPED
    with pytest.raises(ServerUnavailableError):
        await instance.call_tool("echo")


async def test_server_exiting_at_start_shows_its_stderr(home: FleetHome) -> None:
    spec = own_server("toy.py", "--mode", "exit")
    instance = Instance("toy", 0, spec, launch_of(spec), home, env={}, version="1")
    with pytest.raises(ServerStartError, match="exited with code 3") as info:
        await instance.start()
    assert "fatal: missing configuration" in str(info.value)
    assert instance.state is InstanceState.FAILED


async def test_garbage_server_is_a_protocol_error(home: FleetHome) -> None:
    spec = own_server("toy.py", "--mode", "garbage", startup_timeout=1.0)
    instance = Instance("toy", 0, spec, launch_of(spec), home, env={}, version="1")
    with pytest.raises(ProtocolError, match="this is not json"):
        await instance.start()
    assert instance.pid is None


async def test_missing_command_says_to_reinstall(home: FleetHome) -> None:
    spec = own_server("toy.py")
    launch = LaunchSpec(command=(str(home.root / "no-such-binary"),))
    instance = Instance("toy", 0, spec, launch, home, env={}, version="1")
    with pytest.raises(ServerStartError, match="mcpfleet install toy --force"):
        await instance.start()


async def test_crash_is_restarted_with_backoff(home: FleetHome, supervisors: list[Supervisor]) -> None:
    supervisor = supervisor_for(home, supervisors)
    [instance] = await supervisor.start(1)
    first_pid = instance.pid
    assert first_pid is not None
    with pytest.raises(Exception, match="closed"):
        await instance.call_tool("crash", {"code": 9})
    for _ in range(200):
        if instance.state is InstanceState.READY and instance.pid not in (None, first_pid):
            break
        await asyncio.sleep(0.05)
    assert instance.state is InstanceState.READY and instance.restarts == 1
    assert (await instance.call_tool("echo", {"text": "back"}))["content"][0]["text"] == "back"
    assert not alive(first_pid)
    clock = supervisor.clock
    assert isinstance(clock, FastClock) and 0.25 <= clock.sleeps[0] <= 0.5  # initial 0.5 s, jittered


async def test_gives_up_after_max_restarts_in_window(home: FleetHome, supervisors: list[Supervisor]) -> None:
    supervisor = supervisor_for(home, supervisors, restart=RestartPolicy(max_restarts=3, window=3600))
    [instance] = await supervisor.start(1)
    # From now on every start fails: the launch command exits at once.
    supervisor.launch = instance.launch = LaunchSpec(command=(*instance.launch.command, "--mode", "exit"))
    with pytest.raises(Exception, match="closed"):
        await instance.call_tool("crash")
    for _ in range(200):
        if supervisor.failed_reason:
            break
        await asyncio.sleep(0.05)
    assert supervisor.failed_reason is not None
    assert "gave up after 3 restarts" in supervisor.failed_reason
    assert "exited with code 3" in supervisor.failed_reason
    assert instance.state is InstanceState.FAILED and instance.restarts == 3
    clock = supervisor.clock
    assert isinstance(clock, FastClock)
    assert clock.sleeps[1] > clock.sleeps[0] * 1.4  # exponential, despite jitter
    # A manual restart starts afresh once the cause is fixed.
    supervisor.launch = instance.launch = LaunchSpec(command=instance.launch.command[:-2])
    await supervisor.restart()
    assert instance.state is InstanceState.READY and supervisor.failed_reason is None


async def test_no_process_left_behind(home: FleetHome, supervisors: list[Supervisor]) -> None:
    supervisor = supervisor_for(home, supervisors)
    instances = await supervisor.start(3)
    pids = [i.pid for i in instances]
    grandchildren = [int((await i.call_tool("spawn_child"))["content"][0]["text"]) for i in instances]
    assert all(alive(p) for p in grandchildren)
    # Crash one (its grandchild must not outlive the restart), restart all, scale, stop.
    await asyncio.gather(instances[0].call_tool("crash"), return_exceptions=True)
    assert await gone(grandchildren[0])
    for _ in range(200):
        if instances[0].state is InstanceState.READY:
            break
        await asyncio.sleep(0.05)
    await supervisor.restart()
    await supervisor.scale(4)
    await supervisor.scale(2)
    survivors = [i.pid for i in supervisor.instances]
    await supervisor.stop()
    for pid in [*pids, *grandchildren, *survivors]:
        assert pid is not None and await gone(pid), f"process {pid} was left behind"


STARTING = StateSnapshot(ServerState.STARTING, None, 0)


class GatedClock(FastClock):
    """Sleeps wait until the test opens the gate: a restart's backoff can be looked at while it lasts."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await self.gate.wait()
        self.gate.clear()
        self.offset += seconds


async def test_an_instance_goes_from_starting_to_backing_off_to_gave_up(
    home: FleetHome, supervisors: list[Supervisor]
) -> None:
    spec = own_server("toy.py", restart=RestartPolicy(max_restarts=2, window=3600))
    clock = GatedClock()
    supervisor = Supervisor(
        "toy", spec, launch_of(spec), home, env={"TOY_SECRET": "s3cret"}, version="1", clock=clock,
        rng=random.Random(1),
    )  # fmt: skip
    supervisors.append(supervisor)
    starting = asyncio.create_task(supervisor.start(1))
    try:  # spawning and the handshake take a while: long enough to be seen
        await until(lambda: [supervisor.instance_state(i) for i in supervisor.instances] == [STARTING])
    finally:
        await starting
    [instance] = supervisor.instances
    assert supervisor.instance_state(instance) == StateSnapshot(ServerState.READY, None, 0)

    # From now on every start fails: the command exits at once, saying why on stderr.
    supervisor.launch = instance.launch = LaunchSpec(command=(*instance.launch.command, "--mode", "exit"))
    with pytest.raises(Exception, match="closed"):
        await instance.call_tool("crash", {"code": 7})
    for restarts in (0, 1):
        await until(lambda: bool(clock.sleeps) and supervisor.instance_state(instance).next_try is not None)
        state = supervisor.instance_state(instance)
        assert state.state is ServerState.BACKING_OFF and state.restarts == restarts
        assert state.next_try is not None
        assert abs(state.next_try - (time.time() + clock.sleeps[-1])) < 2.0  # when, as a Unix time
        assert state.last_error is not None and "exited with code" in state.last_error
        assert "\n" not in state.last_error
        clock.sleeps.clear()
        clock.gate.set()  # the backoff is over: it restarts (and fails again)
    await until(lambda: supervisor.instance_state(instance).state is ServerState.GAVE_UP)
    state = supervisor.instance_state(instance)
    assert state.restarts == 2 and state.next_try is None
    assert state.last_error is not None and "\n" not in state.last_error
    assert "gave up after 2 restarts" in state.last_error
    assert "fatal: missing configuration" in state.last_error
    assert "mcpfleet restart toy" in state.last_error
