"""A real single-node SLURM cluster on loopback, for the workflow's SLURM test.

Starts Debian's munged, slurmctld and slurmd (Slurm 22.05) as the current user (root in CI)
with its state in one folder: no accounting database, linuxproc process tracking, and one
fake GPU declared as a GRES (``gres.conf`` with ``File=/dev/null``) so that jobs asking for
``--gpus=1`` can be scheduled.

slurm.conf and gres.conf go to /etc/slurm, where every client looks: the executor plugin runs
each job's command through ``srun`` with the ``SLURM_*`` variables (``SLURM_CONF`` among them)
removed from its environment. An /etc/slurm/slurm.conf this module did not write is never
touched: the cluster then refuses to start.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue")
CONF_DIR = Path("/etc/slurm")
MARK = "# written by linf-smoothing's tests/slurm_cluster.py\n"


def missing_programs() -> list[str]:
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return [name for name in DAEMONS if shutil.which(name, path=search) is None]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _slurm_conf(folder: Path, host: str, cpus: int, memory_mb: int) -> str:
    return MARK + f"""\
ClusterName=linftest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={folder}/munge.socket
CredType=cred/munge
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SchedulerParameters=defer_batch
SchedulerType=sched/backfill
MinJobAge=3600
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def conf_dir_problem() -> str | None:
    """Why the cluster cannot be configured here, or None."""
    conf = CONF_DIR / "slurm.conf"
    if conf.exists() and not conf.read_text().startswith(MARK):
        return f"{conf} belongs to another SLURM installation"
    if not os.access(CONF_DIR if CONF_DIR.exists() else CONF_DIR.parent, os.W_OK):
        return f"{CONF_DIR} is not writable (the test cluster runs as root)"
    return None


@contextlib.contextmanager
def single_node_slurm(folder: Path, cpus: int = 2, memory_mb: int = 16000) -> Iterator[dict[str, str]]:
    """Run the cluster while the block runs; yield the environment its clients need."""
    problem = conf_dir_problem()
    if problem:
        raise RuntimeError(problem)
    folder.mkdir(parents=True, exist_ok=True)
    for sub in ("state", "spool"):
        (folder / sub).mkdir(exist_ok=True)
    key = folder / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    host = socket.gethostname().split(".")[0]
    CONF_DIR.mkdir(exist_ok=True)
    written = {CONF_DIR / "slurm.conf": _slurm_conf(folder, host, cpus, memory_mb),
               CONF_DIR / "gres.conf": MARK + f"NodeName={host} Name=gpu File=/dev/null\n"}
    for path, text in written.items():
        path.write_text(text)
    env = {key: value for key, value in os.environ.items() if key != "SLURM_CONF"}
    env["PATH"] = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    munge = ["munged", f"--socket={folder}/munge.socket", f"--key-file={key}", f"--log-file={folder}/munged.log",
             f"--pid-file={folder}/munged.pid", f"--seed-file={folder}/munged.seed", "--force"]
    subprocess.run(munge, check=True, env=env)
    daemons = []
    try:
        for daemon in ("slurmctld", "slurmd"):
            daemons.append(subprocess.Popen([daemon, "-D"], env=env, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 60
        while True:
            state = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True).stdout.strip()
            if state == "idle":
                break
            if time.monotonic() > deadline or any(d.poll() is not None for d in daemons):
                logs = "\n".join(p.read_text()[-2000:] for p in folder.glob("slurm*.log"))
                raise RuntimeError(f"SLURM did not come up (sinfo says {state!r}):\n{logs}")
            time.sleep(0.5)
        yield env
    finally:
        for daemon in daemons:
            daemon.terminate()
        for daemon in daemons:
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                daemon.kill()
        subprocess.run([*munge[:2], "--stop"], env=env, capture_output=True)
        for path, text in written.items():  # unless another test cluster has replaced them since
            if path.exists() and path.read_text() == text:
                path.unlink()
