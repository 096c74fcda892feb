"""A real single-node SLURM cluster on localhost, for the tests (docs/SLURM.md).

``LocalSlurm`` starts Debian's daemons (``munge``, ``slurm-wlm``: ``munged``, ``slurmctld``,
``slurmd``) directly, without systemd, each in its own process group, with a generated
``slurm.conf`` and every key, socket, state, spool, pid and log file under one temporary
directory; everything listens on 127.0.0.1 only, on ports picked free at start.  Clients find the
cluster through ``SLURM_CONF`` in :attr:`LocalSlurm.env`, the environment every subprocess that
talks to the cluster (``sbatch``, ``squeue``, ``snakemake --executor slurm``) must be given::

    with LocalSlurm() as cluster:
        subprocess.run([sys.executable, "-m", "snakemake", "--profile", "profiles/slurm",
                        *cluster.snakemake_args, ...], env=cluster.env, check=True)
        cluster.jobs()          # what squeue says about every job the cluster has seen

Leaving the ``with`` block (also on an exception) cancels the jobs, stops the daemons and kills
every process still carrying the cluster's marker variable (job steps included), then removes
the directory (kept, with its logs, when ``LMM_SLURM_KEEP`` is set).

Two things differ from a site's cluster, both because of where this one lives:

* no accounting database (no slurmdbd), so ``sacct`` cannot answer: the SLURM executor plugin
  is told to poll ``squeue`` (``--slurm-status-command squeue``), which sees finished jobs for
  ``MinJobAge`` (10 minutes here);
* the configuration is not at ``/etc/slurm/slurm.conf``, and the jobstep plugin (0.6.1) drops
  every ``SLURM_*`` variable, ``SLURM_CONF`` included, before its ``srun`` inside the job: a
  two-line ``srun`` in :attr:`LocalSlurm.bin_dir`, first on ``PATH``, puts it back.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

#: The Debian programs the cluster needs (packages munge, slurmctld, slurmd, slurm-client).
PROGRAMS = ("munged", "munge", "slurmctld", "slurmd", "slurmstepd",
            "sbatch", "squeue", "sinfo", "scontrol", "scancel", "srun")

#: Set in every daemon's and job's environment; how stop() finds what is left.
MARKER = "LMM_TEST_SLURM_ROOT"

#: The user-facing profile the tests run (docs/SLURM.md).
PROFILE = Path(__file__).resolve().parents[1] / "profiles" / "slurm"

NODE = "lmmnode"
PARTITION = "debug"
#: Finished jobs stay in squeue this long (s): the executor plugin's squeue status checks and
#: :meth:`LocalSlurm.jobs` rely on it.
MIN_JOB_AGE = 600
#: The longest socket path below the root (slurmd's step sockets in the spool directory).
_SOCKET_TAIL = len("/spool/lmmnode_4294967295.4294967295")


def missing_programs() -> list[str]:
    """The programs of :data:`PROGRAMS` not on ``PATH`` (or in /usr/sbin)."""
    return [p for p in PROGRAMS if _which(p) is None]


def _which(program: str) -> str | None:
    return shutil.which(program) or shutil.which(program, path="/usr/sbin:/sbin")


class SlurmError(RuntimeError):
    """The cluster did not start (or a client command failed); the message has the logs."""


@dataclass(frozen=True)
class SlurmJob:
    """One job as ``squeue --states=all`` shows it."""

    job_id: str
    name: str
    state: str
    cpus: int
    min_memory: str  # e.g. "600M"
    time_limit: str  # e.g. "3:00"
    partition: str
    comment: str


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_hardware() -> dict[str, int]:
    """This machine as ``slurmd -C`` sees it: CPUs, Boards, SocketsPerBoard, ..., RealMemory."""
    out = subprocess.run([_which("slurmd") or "slurmd", "-C"], capture_output=True, text=True,
                         check=True).stdout
    first = out.splitlines()[0]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", first)}


class LocalSlurm:
    """A single-node SLURM cluster on localhost; a context manager (see the module docstring).

    ``root``: the directory to build it in (made, and removed at stop unless ``keep``); default
    a new directory under /tmp (short, because of the unix-socket path limit, and readable by
    all, which munged requires of its socket directory).  ``memory_fraction``: the node's
    ``RealMemory`` as a fraction of what ``slurmd -C`` reports.
    """

    def __init__(self, root: str | Path | None = None, *, memory_fraction: float = 0.9,
                 start_timeout: float = 60.0, keep: bool | None = None) -> None:
        missing = missing_programs()
        if missing:
            raise FileNotFoundError(
                "SLURM test cluster: not installed: " + " ".join(missing)
                + " (Debian: apt-get install slurm-wlm munge; .ci/setup does)")
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="lmm-slurm-") if root is None else root)
        self.root.mkdir(parents=True, exist_ok=True)
        if len(str(self.root.resolve())) + _SOCKET_TAIL > 100:
            raise ValueError(f"SLURM test cluster: root path too long for unix sockets: "
                             f"{self.root}")
        self.memory_fraction = memory_fraction
        self.start_timeout = start_timeout
        self.keep = bool(os.environ.get("LMM_SLURM_KEEP")) if keep is None else keep
        self.conf = self.root / "slurm.conf"
        self.log_dir = self.root / "log"
        self.bin_dir = self.root / "bin"
        self.munge_socket = self.root / "munge" / "munge.socket"
        self.ctld_port = 0
        self.slurmd_port = 0
        self.hardware: dict[str, int] = {}
        self._procs: dict[str, subprocess.Popen] = {}
        self._outputs: list = []
        self.env = self._environment()

    # -- the public API ---------------------------------------------------------------------

    @property
    def cpus(self) -> int:
        return self.hardware.get("CPUs", 0)

    @property
    def real_memory(self) -> int:
        """The node's configured RealMemory (MB)."""
        return int(self.hardware.get("RealMemory", 0) * self.memory_fraction)

    @property
    def snakemake_args(self) -> list[str]:
        """Options for ``snakemake --executor slurm`` (or ``--profile profiles/slurm``) here.

        squeue for job status (no accounting database), status checks 2 s after submission
        instead of 40, and no rule asking for more threads than the node's CPUs (sbatch would
        refuse such a job)."""
        return ["--slurm-status-command", "squeue",
                "--slurm-init-seconds-before-status-checks", "2",
                "--max-threads", str(self.cpus)]

    def snakemake_command(self, profile: str | Path = PROFILE) -> list[str]:
        """``python -m snakemake --profile PROFILE`` plus :attr:`snakemake_args`; append the
        workflow's own options and run it with ``env=cluster.env``."""
        return [sys.executable, "-m", "snakemake", "--profile", str(profile),
                *self.snakemake_args]

    def __enter__(self) -> LocalSlurm:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        """Write the configuration, start munged, slurmctld and slurmd; wait for an idle node.

        On any failure everything started is stopped again before the error propagates."""
        try:
            self._write_files()
            self._start("munged", [
                _which("munged"), "--foreground",
                f"--socket={self.munge_socket}",
                f"--key-file={self.root / 'munge-key' / 'munge.key'}",
                f"--log-file={self.log_dir / 'munged.log'}",
                f"--pid-file={self.root / 'munge' / 'munged.pid'}",
                f"--seed-file={self.root / 'munge-key' / 'munged.seed'}",
            ])
            self._wait("munged to answer", self._munge_ok)
            self._start("slurmctld", [_which("slurmctld"), "-D", "-i", "-f", str(self.conf)])
            self._wait("slurmctld to answer", self._ctld_ok)
            self._start("slurmd", [_which("slurmd"), "-D", "-N", NODE, "-f", str(self.conf)])
            self._wait(f"node {NODE} to be idle", self._node_idle)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Cancel every job, stop the daemons (process groups: TERM, then KILL), kill anything
        left that carries the cluster's marker, and remove the directory unless kept."""
        try:
            if "slurmctld" in self._procs and self._procs["slurmctld"].poll() is None:
                with contextlib.suppress(Exception):
                    self.client("scancel", "--full", f"--partition={PARTITION}", check=False,
                                timeout=10)
                    deadline = time.monotonic() + 15
                    while time.monotonic() < deadline and self._live_jobs():
                        time.sleep(0.5)
            for name in ("slurmd", "slurmctld", "munged"):
                proc = self._procs.get(name)
                if proc is not None:
                    _stop_group(proc)
            for pid in self.survivors():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.survivors():
                time.sleep(0.2)
        finally:
            for out in self._outputs:
                out.close()
            self._outputs.clear()
            self._procs.clear()
            if not self.keep and self.root.exists():
                shutil.rmtree(self.root, ignore_errors=True)

    def survivors(self) -> list[int]:
        """Pids of live processes (other than this one) of this cluster: those that carry its
        marker variable (daemons, job steps, jobs, clients run with :attr:`env`) or name its
        directory on their command line."""
        mark = f"{MARKER}={self.root}".encode()
        root = str(self.root).encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                environ = (entry / "environ").read_bytes().split(b"\0")
                cmdline = (entry / "cmdline").read_bytes()
            except (OSError, IndexError):
                continue
            if state != "Z" and (mark in environ or root in cmdline):
                found.append(int(entry.name))
        return found

    def listening(self) -> list[tuple[str, int, int]]:
        """``(address, port, pid)`` of every TCP socket a process of this cluster listens on
        (slurmctld, slurmd, srun; all should be on 127.0.0.1)."""
        listen = {}
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with contextlib.suppress(OSError):
                for line in Path(table).read_text().splitlines()[1:]:
                    fields = line.split()
                    if len(fields) > 9 and fields[3] == "0A":
                        address, port = fields[1].split(":")
                        listen[fields[9]] = (_address(address), int(port, 16))
        found = []
        for pid in self.survivors():
            with contextlib.suppress(OSError):
                for fd in Path(f"/proc/{pid}/fd").iterdir():
                    with contextlib.suppress(OSError):
                        target = os.readlink(fd)
                        inode = target[len("socket:["):-1]
                        if target.startswith("socket:[") and inode in listen:
                            found.append((*listen[inode], pid))
        return sorted(set(found))

    def client(self, program: str, *args: str, check: bool = True,
               timeout: float = 30) -> subprocess.CompletedProcess:
        """Run a SLURM client command (sbatch, squeue, ...) against this cluster."""
        done = subprocess.run([program, *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout)
        if check and done.returncode != 0:
            raise SlurmError(f"{program} {' '.join(args)} failed ({done.returncode}): "
                             f"{done.stderr.strip()}")
        return done

    def jobs(self) -> list[SlurmJob]:
        """Every job the controller still knows (running, pending, and finished ones for
        :data:`MIN_JOB_AGE` seconds), in submission order."""
        fields = "%i|%j|%T|%C|%m|%l|%P|%k"
        out = self.client("squeue", "--states=all", "--noheader", f"--format={fields}").stdout
        jobs = []
        for line in out.splitlines():
            parts = line.split("|", 7)
            if len(parts) == 8:
                job_id, name, state, cpus, mem, limit, partition, comment = parts
                jobs.append(SlurmJob(job_id, name, state, int(cpus), mem, limit, partition,
                                     comment))
        return sorted(jobs, key=lambda j: int(j.job_id))

    def log(self, daemon: str) -> str:
        """The log file of ``munged``, ``slurmctld`` or ``slurmd`` ("" before it exists)."""
        path = self.log_dir / f"{daemon}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def submitted_job_ids(self) -> list[str]:
        """Job ids slurmctld logged as submitted through its batch-job RPC."""
        return re.findall(r"_slurm_rpc_submit_batch_job: JobId=(\d+)", self.log("slurmctld"))

    # -- building it ------------------------------------------------------------------------

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SLURM_", "SBATCH_", "SRUN_", "SALLOC_", "SQUEUE_"))}
        env["SLURM_CONF"] = str(self.conf)
        env[MARKER] = str(self.root)
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}{os.pathsep}/usr/sbin"
        return env

    def _write_files(self) -> None:
        self.root.chmod(0o755)
        for sub, mode in (("munge", 0o755), ("munge-key", 0o700), ("state", 0o700),
                          ("spool", 0o755), ("log", 0o700), ("bin", 0o755)):
            (self.root / sub).mkdir(mode=mode, exist_ok=True)
            (self.root / sub).chmod(mode)
        key = self.root / "munge-key" / "munge.key"
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(os.urandom(1024))
        self.hardware = node_hardware()
        self.ctld_port, self.slurmd_port = _free_port(), _free_port()
        while self.slurmd_port == self.ctld_port:
            self.slurmd_port = _free_port()
        (self.root / "plugstack.conf").write_text("")
        self.conf.write_text(self._slurm_conf())
        srun = self.bin_dir / "srun"
        srun.write_text(
            "#!/bin/sh\n"
            "# The test cluster's slurm.conf is not at /etc/slurm; the slurm-jobstep executor\n"
            "# drops SLURM_CONF before it runs srun inside a job (tests/slurm_cluster.py).\n"
            f"SLURM_CONF='{self.conf}' exec {_which('srun')} \"$@\"\n")
        srun.chmod(0o755)

    def _slurm_conf(self) -> str:
        hw = self.hardware
        r = self.root
        return f"""\
# Generated by tests/slurm_cluster.py: a single-node test cluster on 127.0.0.1 only.
ClusterName=lmmtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={self.ctld_port}
SlurmdPort={self.slurmd_port}
# Bind every daemon to the address its host name resolves to (127.0.0.1), not to 0.0.0.0.
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/state/slurmctld.pid
SlurmdPidFile={r}/spool/slurmd.pid
SlurmctldLogFile={r}/log/slurmctld.log
SlurmdLogFile={r}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig={r}/plugstack.conf
MailProg=/bin/true
MpiDefault=none
SwitchType=switch/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/linux
JobCompType=jobcomp/none
ReturnToService=2
MinJobAge={MIN_JOB_AGE}
InactiveLimit=0
KillWait=5
Waittime=0
SlurmctldTimeout=30
SlurmdTimeout=300
NodeName={NODE} NodeHostname=localhost NodeAddr=127.0.0.1 CPUs={hw['CPUs']} \
Boards={hw.get('Boards', 1)} SocketsPerBoard={hw.get('SocketsPerBoard', 1)} \
CoresPerSocket={hw.get('CoresPerSocket', hw['CPUs'])} \
ThreadsPerCore={hw.get('ThreadsPerCore', 1)} RealMemory={self.real_memory} State=UNKNOWN
PartitionName={PARTITION} Nodes={NODE} Default=YES MaxTime=INFINITE State=UP
"""

    def _start(self, name: str, argv: list[str | None]) -> None:
        out = open(self.log_dir / f"{name}.out", "wb")  # closed in stop()
        self._outputs.append(out)
        self._procs[name] = subprocess.Popen(
            [str(a) for a in argv], cwd=self.root, env=self.env, stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def _wait(self, what: str, ready) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            for name, proc in self._procs.items():
                if proc.poll() is not None:
                    raise SlurmError(f"SLURM test cluster: {name} exited ({proc.returncode}) "
                                     f"while waiting for {what}\n{self._log_tails()}")
            if ready():
                return
            time.sleep(0.25)
        raise SlurmError(f"SLURM test cluster: timed out after {self.start_timeout:.0f} s "
                         f"waiting for {what}\n{self._log_tails()}")

    def _log_tails(self, lines: int = 15) -> str:
        parts = []
        for path in sorted(self.log_dir.glob("*")):
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path.name}\n" + "\n".join(tail))
        return "\n".join(parts)

    def _munge_ok(self) -> bool:
        if not self.munge_socket.exists():
            return False
        done = subprocess.run([_which("munge"), "-n", f"--socket={self.munge_socket}"],
                              capture_output=True, timeout=10)
        return done.returncode == 0

    def _ctld_ok(self) -> bool:
        done = self.client("scontrol", "ping", check=False, timeout=10)
        return done.returncode == 0 and " is UP" in done.stdout

    def _node_idle(self) -> bool:
        done = self.client("sinfo", "--noheader", "--Node", "--format=%N %t", check=False,
                           timeout=10)
        return done.returncode == 0 and f"{NODE} idle" in done.stdout

    def _live_jobs(self) -> bool:
        done = self.client("squeue", "--noheader", "--format=%i", check=False, timeout=10)
        return done.returncode == 0 and bool(done.stdout.strip())


def _address(hex_address: str) -> str:
    """An address of /proc/net/tcp{,6} (32-bit words in host byte order) as text."""
    raw = bytes.fromhex(hex_address)
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)


def _stop_group(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM the process group of ``proc`` (its own session), then SIGKILL after ``grace``."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
