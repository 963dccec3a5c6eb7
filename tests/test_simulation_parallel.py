"""simulation.parallel: tasks sent to an existing Dask scheduler give what they give in this process.

The sweeps (perturbations, criticality tuning, GA generations) reach a cluster only through a scheduler address
(``--scheduler tcp://...``, e.g. of a dask-jobqueue ``SLURMCluster``). Here the test starts a real ``distributed``
scheduler with two worker processes on this machine and passes its address, as a user would.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from simulation.parallel import run_command, run_parallel

# A small NEST network in a fresh process: 20 LIF cells driven by Poisson input, seeded, one thread. Prints one
# JSON line (after NEST's banner): its spikes, and the process that started it.
NEST_TASK = """
import json, os, sys
import nest
nest.SetKernelStatus({"rng_seed": int(sys.argv[1]), "local_num_threads": 1, "resolution": 0.1})
cells = nest.Create("iaf_psc_delta", 20)
drive = nest.Create("poisson_generator", params={"rate": 9000.0})
recorder = nest.Create("spike_recorder")
nest.Connect(drive, cells, syn_spec={"weight": 1.0, "delay": 1.0})
nest.Connect(cells, cells, {"rule": "fixed_indegree", "indegree": 4}, {"weight": -2.0, "delay": 1.5})
nest.Connect(cells, recorder)
nest.Simulate(300.0)
events = recorder.get("events")
print(json.dumps({"senders": events["senders"].tolist(), "times": events["times"].tolist(), "parent": os.getppid()}))
"""
SEEDS = (1, 2)


@pytest.fixture(scope="module")
def scheduler_address():
    """The address of a local ``distributed`` scheduler with 2 single-threaded worker processes; closed after."""
    from dask.distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def _result(record: dict) -> dict:
    """The JSON line a :data:`NEST_TASK` printed last in its log."""
    assert record["returncode"] == 0, Path(record["log"]).read_text()[-2000:]
    return json.loads(Path(record["log"]).read_text().strip().splitlines()[-1])


def _tasks(folder: Path) -> dict:
    return {f"seed{s}": (run_command, (f"seed{s}", ["-c", NEST_TASK, str(s)], str(folder / f"seed{s}.log")))
            for s in SEEDS}


def test_tasks_through_a_scheduler_address_match_the_same_tasks_in_process(scheduler_address, tmp_path):
    from dask.distributed import Client

    here = {name: _result(fn(*args)) for name, (fn, args) in _tasks(tmp_path / "here").items()}
    records = run_parallel(_tasks(tmp_path / "cluster"), scheduler=scheduler_address, desc="test")
    there = {r["name"]: _result(r) for r in records}
    assert sorted(there) == sorted(here) == [f"seed{s}" for s in SEEDS]
    for name in here:
        assert len(here[name]["times"]) > 50  # the cells fire
        assert there[name]["senders"] == here[name]["senders"] and there[name]["times"] == here[name]["times"]
    assert here["seed1"]["times"] != here["seed2"]["times"]  # the seed matters, so equality above is not vacuous
    # the in-process runs were started by this process; the others by the cluster's worker processes
    with Client(scheduler_address, timeout="10s") as client:
        workers = set(client.run(os.getpid).values())
    assert {r["parent"] for r in here.values()} == {os.getpid()}
    assert {r["parent"] for r in there.values()} <= workers and os.getpid() not in workers


def test_a_failed_task_through_a_scheduler_names_its_log_and_the_others_complete(scheduler_address, tmp_path):
    tasks = {"ok": (run_command, ("ok", ["-c", "print('done')"], str(tmp_path / "ok.log"))),
             "bad": (run_command, ("bad", ["-c", "raise SystemExit(3)"], str(tmp_path / "bad.log")))}
    with pytest.raises(RuntimeError, match=r"bad \(see .*bad\.log\)") as err:
        run_parallel(tasks, scheduler=scheduler_address, desc="test")
    assert str(err.value).count("(see ") == 1  # only the failed run is named
    assert (tmp_path / "ok.log").read_text().strip() == "done" and (tmp_path / "bad.log").is_file()


def test_run_command_does_not_pass_on_mpi_launcher_variables(tmp_path, monkeypatch):
    """A Dask worker started by mpirun or srun -n K starts simulations that must run on their own."""
    for name, value in {"OMPI_COMM_WORLD_SIZE": "4", "PMI_SIZE": "4", "SLURM_STEP_NUM_TASKS": "4",
                        "SLURM_PROCID": "2", "SLURM_JOB_ID": "77", "OMP_NUM_THREADS": "1"}.items():
        monkeypatch.setenv(name, value)
    names = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS", "SLURM_PROCID", "SLURM_JOB_ID",
             "OMP_NUM_THREADS"]
    record = run_command("env", ["-c", f"import os; print([os.environ.get(n) for n in {names!r}])"],
                         str(tmp_path / "env.log"))
    assert record["returncode"] == 0
    assert (tmp_path / "env.log").read_text().strip() == str([None, None, None, None, "77", "1"])
