"""simulation.mpi and the runner under MPI: launcher detection, the stop for a NEST without MPI, rank-0-only files.

No MPI is needed: the launcher is imitated by its environment variables, and the ranks by replacing NEST's answers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from helpers import MPI_PYTHON, REPO, mpi_nest_present

from analysis.rates import print_summary
from simulation.config import ConfigError
from simulation.mpi import check_mpi, mpi_launch_variables, mpi_world_size_from_env, serial_environment

BATCH_STEP = str(0xFFFFFFFB)  # SLURM's id of the batch step


@pytest.mark.parametrize("env, size", [
    ({}, 1),
    ({"HOME": "/root", "OMP_NUM_THREADS": "2"}, 1),
    ({"OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_RANK": "0"}, 4),  # mpirun (Open MPI)
    ({"OMPI_COMM_WORLD_SIZE": "1", "OMPI_COMM_WORLD_RANK": "0"}, 1),  # mpirun -n 1
    ({"PMI_SIZE": "3", "PMI_RANK": "2"}, 3),  # mpiexec (MPICH, Intel MPI)
    ({"MPI_LOCALNRANKS": "2", "MPI_LOCALRANKID": "0"}, 2),  # Hydra: ranks on this node
    ({"MV2_COMM_WORLD_SIZE": "8"}, 8),  # MVAPICH2
    ({"PMIX_RANK": "3"}, 4),  # PMIx gives ranks only: rank 3 means at least 4 processes
    ({"PMIX_RANK": "0"}, 1),
    ({"SLURM_STEP_ID": "0", "SLURM_STEP_NUM_TASKS": "4", "SLURM_NTASKS": "4", "SLURM_PROCID": "0"}, 4),  # srun -n 4
    ({"SLURM_STEP_ID": "2", "SLURM_STEP_NUM_TASKS": "1", "SLURM_NTASKS": "1", "SLURM_PROCID": "0"}, 1),  # srun -n 1
    ({"SLURM_STEPID": "0", "SLURM_NTASKS": "6", "SLURM_PROCID": "0"}, 6),  # older SLURM: no SLURM_STEP_NUM_TASKS
    # an sbatch -n 4 script that runs python itself: one process, whatever the job's task count
    ({"SLURM_JOB_ID": "123", "SLURM_NTASKS": "4", "SLURM_NPROCS": "4", "SLURM_PROCID": "0"}, 1),
    ({"SLURM_JOB_ID": "123", "SLURM_NTASKS": "4", "SLURM_STEP_ID": BATCH_STEP, "SLURM_STEP_NUM_TASKS": "1",
      "SLURM_PROCID": "0"}, 1),
    ({"SLURM_JOB_ID": "123", "SLURM_NTASKS": "4", "SLURM_STEP_ID": BATCH_STEP, "SLURM_PROCID": "0"}, 1),
    ({"SLURM_NTASKS": "4", "SLURM_PROCID": "3"}, 1),  # a rank without a step is not a launch
    ({"OMPI_COMM_WORLD_SIZE": "", "PMI_SIZE": "two", "MV2_COMM_WORLD_SIZE": "-3", "PMIX_RANK": "1.5"}, 1),
])
def test_world_size_from_the_launchers_variables(env, size):
    assert mpi_world_size_from_env(env) == size
    assert bool(mpi_launch_variables(env)) == (size > 1)


def test_the_launch_variables_name_what_they_imply():
    env = {"OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_RANK": "2", "PMIX_RANK": "2"}
    assert mpi_launch_variables(env) == {"OMPI_COMM_WORLD_SIZE=4": 4, "OMPI_COMM_WORLD_RANK=2": 3, "PMIX_RANK=2": 3}


@pytest.mark.parametrize("world_size, nest_processes, bmtk_processes", [
    (1, 1, None),  # a plain run
    (4, 4, 4),  # mpirun -n 4 with NEST and mpi4py on MPI
    (1, 2, 2),  # a launcher this module does not know: NEST's count decides
    (3, 3, None),  # bmtk's count not asked
])
def test_runs_that_may_go_on(world_size, nest_processes, bmtk_processes):
    check_mpi(world_size, nest_processes, bmtk_processes=bmtk_processes)


def test_k_copies_of_a_nest_without_mpi_are_refused():
    with pytest.raises(ConfigError) as err:
        check_mpi(3, 1, evidence="PMI_SIZE=3", config="my.json")
    message = str(err.value)
    for part in ("one of 3 processes", "(PMI_SIZE=3)", "built without MPI", "nest.NumProcesses() is 1",
                 "whole model", "conda env create -f environment-mpi.yml", "mpirun -n 3 python run_pointnet.py my.json",
                 "python run_pointnet.py my.json, using run.n_thread threads"):
        assert part in message
    assert "\n" not in message


def test_bmtk_writers_that_do_not_see_the_ranks_are_refused():
    with pytest.raises(ConfigError, match="NEST runs on 4 MPI processes but bmtk's file writers see 1 .*mpi4py"):
        check_mpi(4, 4, bmtk_processes=1)


def test_serial_environment_drops_only_launcher_variables():
    env = {"OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_LOCAL_RANK": "0", "OMPI_MCA_btl": "self,tcp",
           "PMI_SIZE": "2", "PMIX_RANK": "1", "MV2_COMM_WORLD_SIZE": "2", "MPI_LOCALNRANKS": "2",
           "SLURM_STEP_ID": "0", "SLURM_STEP_NUM_TASKS": "2", "SLURM_PROCID": "1", "SLURM_LOCALID": "1",
           "SLURM_JOB_ID": "9", "SLURM_NTASKS": "2", "PATH": "/bin", "OMP_NUM_THREADS": "1"}
    kept = serial_environment(env)
    assert kept == {"OMPI_MCA_btl": "self,tcp", "SLURM_JOB_ID": "9", "SLURM_NTASKS": "2", "PATH": "/bin",
                    "OMP_NUM_THREADS": "1"}
    assert mpi_world_size_from_env(kept) == 1


def _missing_everything_config(root: Path) -> Path:
    """The repository's config.json with every folder under ``root``, where nothing exists yet."""
    config = json.loads((REPO / "config.json").read_text())
    config["manifest"].update({"$BASE_DIR": str(root), "$NETWORK_DIR": str(root / "network"),
                               "$COMPONENTS_DIR": str(REPO / "components"), "$OUTPUT_DIR": str(root / "output")})
    config["inputs"]["LGN_spikes"]["input_file"] = str(root / "lgn_spikes.h5")
    config["run"]["n_thread"] = 1
    path = root / "config.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def _run_pointnet(path: Path, extra_env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {**serial_environment(os.environ), **extra_env}
    return subprocess.run([sys.executable, str(REPO / "run_pointnet.py"), str(path), *args], capture_output=True,
                          text=True, cwd=REPO, env=env, timeout=300)


def _tree(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in sorted(root.rglob("*"))}


def test_runner_under_mpirun_with_a_nest_without_mpi_stops_and_writes_nothing(tmp_path):
    """As ``mpirun -n 2 python run_pointnet.py config.json`` would start it: exit 2 before building or writing."""
    path = _missing_everything_config(tmp_path)
    before = _tree(tmp_path)
    result = _run_pointnet(path, {"OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "0"})
    assert result.returncode == 2, result.stderr[-2000:]
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("error: this is one of 2 processes started by an MPI launcher")
    assert "(OMPI_COMM_WORLD_SIZE=2)" in error and "environment-mpi.yml" in error
    assert f"mpirun -n 2 python run_pointnet.py {path}" in error
    assert "building" not in result.stdout  # the missing network and LGN spikes were not built
    assert _tree(tmp_path) == before  # nothing created, nothing touched


def test_runner_in_a_slurm_batch_script_is_not_taken_for_mpi(tmp_path):
    """``sbatch -n 4`` running ``python run_pointnet.py`` itself goes on as one process (here to the next check)."""
    path = _missing_everything_config(tmp_path)
    result = _run_pointnet(path, {"SLURM_JOB_ID": "123", "SLURM_NTASKS": "4", "SLURM_STEP_ID": BATCH_STEP,
                                  "SLURM_PROCID": "0"}, "--no-build")
    assert result.returncode == 2
    assert "MPI" not in result.stderr and "which does not exist; make the network with" in result.stderr


def test_clamp_current_changes_the_nodes_of_this_process():
    import nest

    from simulation.run import _add_current

    cells = nest.Create("iaf_psc_delta", 4, params={"I_e": 10.0})
    ids = cells.tolist()
    _add_current([ids[1], ids[3], ids[3]], 5.0)
    assert list(cells.get("I_e")) == [10.0, 15.0, 10.0, 15.0]
    _add_current([ids[2]], -2.5)  # one node: NodeCollection.local is a bool, not a list
    assert list(cells.get("I_e")) == [10.0, 15.0, 7.5, 15.0]


@pytest.fixture()
def mpi_config(tmp_path, tiny_config) -> Path:
    """The tiny configuration, 50 ms on one thread, writing to ``tmp_path/out``."""
    config = json.loads(tiny_config.read_text())
    config["manifest"]["$OUTPUT_DIR"] = str(tmp_path / "out")
    config["run"].update({"tstop": 50.0, "n_thread": 1})
    path = tmp_path / "run.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def _as_rank(monkeypatch, rank: int, processes: int = 2) -> list[str]:
    """Make :func:`simulation.run.simulate` take this process for ``rank`` of ``processes``; record its barriers."""
    import simulation.run as sim_run

    barriers: list[str] = []
    monkeypatch.setattr(sim_run, "check_launch", lambda env=None, config="": processes)
    monkeypatch.setattr(sim_run, "_rank", lambda: rank)
    monkeypatch.setattr(sim_run, "_barrier", lambda: barriers.append("sync"))
    return barriers


def test_only_rank_0_renames_the_spikes_and_writes_the_summary(mpi_config, tmp_path, monkeypatch):
    import simulation.run as sim_run

    out = tmp_path / "out"
    barriers = _as_rank(monkeypatch, rank=1)
    sim_run.simulate(mpi_config, build_missing=False, summary=print_summary)
    assert barriers[:1] == ["sync"] and barriers[-1:] == ["sync"]
    # bmtk wrote its spikes (on one real process it is rank 0 for bmtk) into the run's staging folder; rank 1
    # publishes nothing: no spikes or summary in the output folder, the staged files stay under the partial name
    assert not (out / "spikes.h5").exists() and not (out / "rates_summary.csv").exists()
    staged = list(out.glob(".staging-*"))
    assert len(staged) == 1 and (staged[0] / "spikes.partial.h5").is_file()
    assert json.loads((staged[0] / "run.json").read_text())["output"]["spikes_file"].endswith("spikes.partial.h5")

    barriers = _as_rank(monkeypatch, rank=0)
    sim_run.simulate(mpi_config, build_missing=False, summary=print_summary)
    assert barriers[:1] == ["sync"] and barriers[-1:] == ["sync"]
    assert (out / "spikes.h5").is_file() and not (out / "spikes.partial.h5").exists()
    assert (out / "rates_summary.csv").is_file()
    assert json.loads((out / "run.json").read_text())["output"]["spikes_file"] == str(out / "spikes.h5")


def test_missing_inputs_are_not_built_under_mpi(mpi_config, tmp_path, monkeypatch):
    import simulation.run as sim_run

    config = json.loads(mpi_config.read_text())
    config["inputs"]["LGN_spikes"]["input_file"] = str(tmp_path / "lgn_spikes.h5")
    mpi_config.write_text(json.dumps(config))
    _as_rank(monkeypatch, rank=0)
    with pytest.raises(ConfigError, match="which does not exist; make it with: python -m inputs spikes"):
        sim_run.simulate(mpi_config, build_missing=True)
    assert not (tmp_path / "lgn_spikes.h5").exists() and not (tmp_path / "out").exists()




@pytest.mark.mpi
def test_two_ranks_write_the_spikes_of_one_process_with_two_threads(tiny_config, tmp_path):
    """mpirun -n 2 (1 thread per rank) gives the spikes of 1 process x 2 threads: NEST's results depend on the number
    of virtual processes, not on how they are split. One spikes.h5 and one summary, no staging folder left."""
    reason = mpi_nest_present()
    if reason:
        pytest.skip(reason)
    runs = {}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMI", "PMIX_"))}
    for name, threads, launcher in (("threads", 2, []),
                                    ("ranks", 1, ["mpirun", "--allow-run-as-root", "--oversubscribe", "-n", "2"])):
        config = json.loads(tiny_config.read_text())
        config["manifest"]["$OUTPUT_DIR"] = str(tmp_path / name)
        config["run"]["n_thread"] = threads
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(config))
        result = subprocess.run([*launcher, str(MPI_PYTHON), str(REPO / "run_pointnet.py"), str(path), "--no-build"],
                                capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        out = tmp_path / name
        assert (out / "spikes.h5").is_file() and (out / "rates_summary.csv").is_file()
        assert not list(out.glob(".staging-*")) and not list(out.glob("*.partial.h5"))
        with h5py.File(out / "spikes.h5", "r") as h5:
            ids, times = h5["spikes/V1/node_ids"][()], h5["spikes/V1/timestamps"][()]
        order = np.lexsort((ids, times))
        runs[name] = (ids[order], times[order])
    assert len(runs["ranks"][0]) > 0
    np.testing.assert_array_equal(runs["ranks"][0], runs["threads"][0])
    np.testing.assert_array_equal(runs["ranks"][1], runs["threads"][1])
