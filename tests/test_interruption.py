"""Interruption and concurrency: SIGKILL during a build, a run or a perturbation suite keeps the previous results and
a rerun resumes; two writers started on one output folder at once cannot corrupt each other (the second stops with
one paragraph naming the folder and the other process, exit code 2). Real processes, real NEST, small networks.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from helpers import MPI_PYTHON, mpi_nest_present

from common.errors import UserError
from common.locks import FolderBusyError, folder_lock, lock_path, remove_leftovers, replace_folder

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 300


# --- helpers ----------------------------------------------------------------------------------------------------


def _config(tiny_config: Path, folder: Path, name: str, out: Path, tstop_ms: float) -> Path:
    """A copy of the tiny configuration writing to ``out``, ``tstop_ms`` long."""
    config = json.loads(tiny_config.read_text())
    config["manifest"]["$OUTPUT_DIR"] = str(out)
    config["run"]["tstop"] = tstop_ms
    path = folder / f"{name}.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def _run_command(path: Path) -> list[str]:
    return [sys.executable, str(REPO / "run_pointnet.py"), str(path), "--no-build"]


def _start(argv: list[str], log: Path) -> subprocess.Popen:
    """Start ``argv`` from the repository in its own process group, stdout and stderr to ``log`` (.out / .err)."""
    return subprocess.Popen(argv, cwd=REPO, stdout=log.with_suffix(".out").open("w"),
                            stderr=log.with_suffix(".err").open("w"), start_new_session=True)


def _finish(process: subprocess.Popen, log: Path, timeout_s: float = TIMEOUT_S) -> tuple[int, str, str]:
    """Wait for ``process`` (killing its group after ``timeout_s``); return its exit code, stdout and stderr."""
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        raise AssertionError(f"{process.args} still running after {timeout_s} s") from None
    return process.returncode, log.with_suffix(".out").read_text(), log.with_suffix(".err").read_text()


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=60)


def _wait_until(condition, process: subprocess.Popen, log: Path, what: str, timeout_s: float = 120.0) -> None:
    """Poll ``condition()`` until true; fail if ``process`` ends first or after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            raise AssertionError(f"{what}: the process ended first ({process.returncode}): "
                                 f"{log.with_suffix('.err').read_text()[-3000:]}")
        time.sleep(0.05)
    _kill_group(process)
    raise AssertionError(f"{what}: not after {timeout_s} s: {log.with_suffix('.err').read_text()[-3000:]}")


def _group_gone(pgid: int, timeout_s: float = 30.0) -> bool:
    """True once no process of group ``pgid`` is left (within ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def _valid_spikes(file: Path) -> int:
    """Number of V1 spikes of a complete SONATA spikes file (fails on a partial or foreign file)."""
    with h5py.File(file, "r") as h5:
        ids, times = h5["spikes/V1/node_ids"][()], h5["spikes/V1/timestamps"][()]
    assert len(ids) == len(times) > 0 and np.isfinite(times).all(), file
    return len(ids)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_refusal(results: list[tuple[int, str, str]], folder: Path, what: str) -> tuple[int, str, str]:
    """Of two commands started at once, one completed and the other stopped with one paragraph; return the winner."""
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], [(code, err[-2000:]) for code, _, err in results]
    (winner,) = [r for r in results if r[0] == 0]
    (_, _, err) = [r for r in results if r[0] == 2][0]
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    message = lines[0]
    assert f"{folder} is in use: {what}" in message and "(process " in message and "started " in message, message
    assert "stops without writing anything" in message and "run this again" in message, message
    return winner


# --- the lock itself --------------------------------------------------------------------------------------------


HOLD = "import sys, time; from common.locks import folder_lock; l = folder_lock(sys.argv[1], 'a test holder')\n" \
       "l.acquire(); print('held', flush=True); time.sleep(120)"


def test_a_live_holder_is_named_and_a_killed_one_blocks_nothing(tmp_path):
    folder = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        details = json.loads(lock_path(folder).read_text())
        assert details["pid"] == holder.pid and details["what"] == "a test holder"
        with pytest.raises(FolderBusyError) as err:
            folder_lock(folder, "a second writer").acquire()
        message = str(err.value)
        assert isinstance(err.value, UserError)
        assert f"{folder} is in use: a test holder (process {holder.pid} on " in message
        assert str(lock_path(folder)) in message and f"kill {holder.pid}" in message and "\n" not in message
        assert not folder.exists()  # the refused writer made nothing
    finally:
        holder.kill()
        holder.wait(timeout=60)
    assert lock_path(folder).exists()  # left by the killed holder, released by the kernel
    with folder_lock(folder, "the next writer") as lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    assert not lock_path(folder).exists()  # a released lock leaves no file


def test_a_lock_file_removed_by_its_releasing_holder_is_not_taken(tmp_path):
    from common.locks import FolderLock

    folder = tmp_path / "out"
    first = folder_lock(folder, "the first").acquire()
    stale = os.open(first.path, os.O_RDWR)  # a second writer opened the file just before the first released it
    first.release()  # removes the file, then unlocks it
    second = FolderLock(folder, "the second")
    opened = iter([stale])
    fresh = second._open
    second._open = lambda: next(opened, None) or fresh()
    second.acquire()  # the removed file is lockable now, but it is not the lock any more: it takes the new one
    try:
        assert os.path.samestat(os.fstat(second._fd), os.stat(second.path))
        with pytest.raises(FolderBusyError, match="the second"):
            folder_lock(folder, "a third").acquire()
    finally:
        second.release()
    assert not second.path.exists()


def test_replace_folder_and_leftovers(tmp_path):
    target, new = tmp_path / "net", tmp_path / ".net.building-x"
    target.mkdir()
    (target / "a").write_text("old")
    new.mkdir()
    (new / "a").write_text("new")
    replace_folder(new, target, tmp_path / ".net.old-x")
    assert (target / "a").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["net"]
    # killed between the two renames of the fallback: the previous folder is put back, the rest removed
    os.rename(target, tmp_path / ".net.old-y")
    (tmp_path / ".net.building-z").mkdir()
    (tmp_path / ".network.building-z").mkdir()  # another folder's: kept
    removed = remove_leftovers(target, ("building", "old"), "a test")
    assert removed == [tmp_path / ".net.building-z"] and (target / "a").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".network.building-z", "net"]


# --- network builds ---------------------------------------------------------------------------------------------


BUILD_CELLS = 25_000  # a few seconds of building: long enough to be caught at work and met by a second build


def _build_command(out: Path, n_cells: int, seed: int, force: bool = True) -> list[str]:
    return [sys.executable, "-m", "build_network", "--model", "seed", "--n-cells", str(n_cells), "--seed", str(seed),
            "--out", str(out), *(["--force"] if force else [])]


def test_a_killed_build_leaves_the_previous_network_and_the_next_build_cleans_up(tmp_path):
    from build_network import ModelSpec, build_network

    out = tmp_path / "network"
    build_network(out, n_cells=400, seed=1, spec=ModelSpec.for_model("seed"), progress=False)
    before = _snapshot(out)
    log = tmp_path / "killed"
    process = _start(_build_command(out, BUILD_CELLS, 2), log)
    try:
        _wait_until(lambda: any(tmp_path.glob(".network.building-*")), process, log, "the temporary build folder")
        time.sleep(0.3)
        assert process.poll() is None, "the build finished before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        _kill_group(process)
    assert process.returncode == -signal.SIGKILL
    assert _snapshot(out) == before  # byte for byte
    left = sorted(p.name for p in tmp_path.glob(".network.*"))
    assert any(name.startswith(".network.building-") for name in left), left

    started = time.perf_counter()
    result = subprocess.run(_build_command(out, 500, 3), cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "left by an interrupted build" in result.stdout
    assert json.loads((out / "build_info.json").read_text())["n_cells"] == 500
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".network")) == []  # no temp, no lock
    print(f"rebuild after the kill: {time.perf_counter() - started:.1f} s")


def test_two_builds_into_one_folder_at_once(tmp_path):
    out = tmp_path / "network"
    processes = [(_start(_build_command(out, BUILD_CELLS, 5), tmp_path / f"b{i}"), tmp_path / f"b{i}")
                 for i in range(2)]
    try:
        results = [_finish(p, log) for p, log in processes]
    finally:
        for p, _ in processes:
            _kill_group(p)
    _one_refusal(results, out, "a network build")
    info = json.loads((out / "build_info.json").read_text())
    assert info["n_cells"] == BUILD_CELLS and all((out / f).is_file() for f in info["files"])
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".network")) == []


# --- runs -------------------------------------------------------------------------------------------------------


def test_two_runs_into_one_folder_at_once(tmp_path, tiny_config):
    out = tmp_path / "out"
    paths = [_config(tiny_config, tmp_path, f"r{i}", out, tstop_ms=15_000.0) for i in range(2)]  # ~10 s held
    processes = [(_start(_run_command(path), tmp_path / path.stem), tmp_path / path.stem) for path in paths]
    try:
        results = [_finish(p, log) for p, log in processes]
    finally:
        for p, _ in processes:
            _kill_group(p)
    winner = _one_refusal(results, out, "a run")
    assert "simulated 15000 ms" in winner[1]
    _valid_spikes(out / "spikes.h5")
    assert not any(p.name.startswith(".staging-") for p in out.iterdir())  # the refused run staged nothing
    assert not lock_path(out).exists()


def test_a_run_meets_a_live_lock_holder_then_runs_once_it_is_killed(tmp_path, tiny_config):
    out = tmp_path / "out"
    out.mkdir()
    (out / "spikes.h5").write_bytes(b"the previous run's spikes")
    log = tmp_path / "long"
    holder = _start(_run_command(_config(tiny_config, tmp_path, "long", out, tstop_ms=200_000.0)), log)
    try:
        _wait_until(lambda: any(p.name.startswith(".staging-") for p in out.iterdir()), holder, log,
                    "the long run's staging folder")
        second = subprocess.run(_run_command(_config(tiny_config, tmp_path, "second", out, tstop_ms=50.0)), cwd=REPO,
                                capture_output=True, text=True, timeout=TIMEOUT_S)
        assert second.returncode == 2 and "Traceback" not in second.stderr, second.stderr[-3000:]
        assert f"{out} is in use: a run (process {holder.pid} on " in second.stderr
        assert "long.json" in second.stderr  # the holder's command
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=60)
    finally:
        _kill_group(holder)
    assert (out / "spikes.h5").read_bytes() == b"the previous run's spikes"
    assert lock_path(out).exists()  # the killed holder's file; the kernel released its lock
    started = time.perf_counter()
    third = subprocess.run(_run_command(_config(tiny_config, tmp_path, "third", out, tstop_ms=50.0)), cwd=REPO,
                           capture_output=True, text=True, timeout=TIMEOUT_S)
    assert third.returncode == 0, third.stderr[-3000:]
    assert time.perf_counter() - started < TIMEOUT_S  # not blocked
    _valid_spikes(out / "spikes.h5")
    assert not lock_path(out).exists() and not any(p.name.startswith(".staging-") for p in out.iterdir())


# --- perturbation suites ----------------------------------------------------------------------------------------


def _suite_command(config: Path, out: Path, *only: str) -> list[str]:
    return [sys.executable, "-m", "perturbations", "run", "--config", str(config), "--out", str(out),
            "--only", *only, "--workers", "1", "--threads", "1"]


def _finished_runs(out: Path) -> list[str]:
    return sorted(p.parent.name for p in out.glob("*/request.json"))


def test_a_killed_suite_keeps_its_finished_runs_and_a_rerun_does_the_rest(tmp_path, tiny_config):
    out = tmp_path / "suite"
    config = _config(tiny_config, tmp_path, "base", tmp_path / "unused", tstop_ms=3000.0)
    command = _suite_command(config, out, "PV_excite")
    log = tmp_path / "killed"
    process = _start(command, log)
    try:
        def one_finished_one_running() -> bool:
            return len(_finished_runs(out)) == 1 and any(out.glob("*/.staging-*/log.txt"))

        _wait_until(one_finished_one_running, process, log, "one finished run and one under way", timeout_s=240)
        os.kill(process.pid, signal.SIGKILL)  # the suite's own process, as `kill -9 <pid>` does
        process.wait(timeout=60)
        assert _group_gone(process.pid), "the suite's workers or runs outlived it"
    finally:
        _kill_group(process)
    (finished,) = _finished_runs(out)
    (unfinished,) = {"baseline", "PV_excite"} - {finished}
    kept = (out / finished / "spikes.h5").stat().st_mtime_ns, _valid_spikes(out / finished / "spikes.h5")
    for spikes in out.rglob("*.h5"):  # no half-written spikes where a reader would take them for results
        assert ".staging-" in str(spikes) or spikes.name != "spikes.partial.h5", spikes
        if spikes.name == "spikes.h5":
            _valid_spikes(spikes)
    assert not (out / unfinished / "spikes.h5").exists()
    assert not (out / "summary.csv").exists()

    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{finished}: finished earlier, skipped" in result.stdout
    assert (out / finished / "spikes.h5").stat().st_mtime_ns == kept[0]
    assert _finished_runs(out) == ["PV_excite", "baseline"]
    _valid_spikes(out / unfinished / "spikes.h5")
    assert (out / "summary.csv").is_file()
    assert not list(out.glob("*/.staging-*")) and not list(out.rglob(".*.lock"))
    assert not lock_path(out).exists()
    print(f"resumed suite: {time.perf_counter() - started:.1f} s")


def test_two_suites_into_one_folder_at_once(tmp_path, tiny_config):
    out = tmp_path / "suite"
    config = _config(tiny_config, tmp_path, "base", tmp_path / "unused", tstop_ms=500.0)
    processes = [(_start(_suite_command(config, out, "PV_excite"), tmp_path / f"s{i}"), tmp_path / f"s{i}")
                 for i in range(2)]
    try:
        results = [_finish(p, log) for p, log in processes]
    finally:
        for p, _ in processes:
            _kill_group(p)
    _one_refusal(results, out, "a perturbation suite")
    assert _finished_runs(out) == ["PV_excite", "baseline"] and (out / "summary.csv").is_file()
    for name in ("PV_excite", "baseline"):
        _valid_spikes(out / name / "spikes.h5")
    assert not lock_path(out).exists()


# --- stimulus runs ----------------------------------------------------------------------------------------------


def test_a_stimulus_run_into_a_locked_folder_stops_before_writing(tmp_path, tiny_config):
    from analysis.stimulus import run_condition

    out = tmp_path / "flash"
    (tmp_path / ".flash.staging-99999999").mkdir()  # left by a killed stimulus run
    with folder_lock(out, "another stimulus run"):  # a second lock of this process conflicts like another's
        with pytest.raises(FolderBusyError, match=f"{out} is in use: another stimulus run"):
            run_condition("flash", out, config_path=tiny_config, trials=3, seed=1, progress=False)
    assert not out.exists() and (tmp_path / ".flash.staging-99999999").is_dir()


@pytest.mark.mpi
def test_a_run_under_mpirun_into_a_locked_folder_stops_on_every_rank(tmp_path, tiny_config):
    """Rank 0 takes the lock and tells the others: all ranks stop with the message, none waits in a collective."""
    reason = mpi_nest_present()
    if reason:
        pytest.skip(reason)
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMI", "PMIX_"))}
        result = subprocess.run(["mpirun", "--allow-run-as-root", "--oversubscribe", "-n", "2", str(MPI_PYTHON),
                                 str(REPO / "run_pointnet.py"), str(_config(tiny_config, tmp_path, "mpi", out, 50.0)),
                                 "--no-build"], capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    finally:
        holder.kill()
        holder.wait(timeout=60)
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert f"{out} is in use: a test holder (process {holder.pid} on " in result.stderr
    assert not out.exists()  # no staging folder, nothing
