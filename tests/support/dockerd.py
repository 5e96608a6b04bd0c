"""A throwaway Docker Engine for the tests that kill or freeze the engine.

Its own socket, data root, exec root, pidfile and bridge, all under one folder and
named with PREFIX, so that SIGKILL and SIGSTOP of it disturb neither the main engine
nor any other test. It is started and removed by its user; signals go to the pid in
its pidfile, never to a process found by name.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import docker

from tests.support.hubproc import PREFIX

# Networks to try for the bridge, first free wins: clear of docker0 and of its pools.
SUBNETS = [f"10.{n}.0" for n in range(213, 250)]


class ThrowawayDockerd:
    """``dockerd`` on ``unix://<folder>/docker.sock`` with its own bridge ``br-<PREFIX>``."""

    def __init__(self, prefix=PREFIX):
        # Short: a unix socket path has at most 107 characters.
        self.dir = Path(tempfile.mkdtemp(prefix=f"{prefix}-dockerd-", dir="/tmp"))
        self.bridge = f"br-{prefix}"[:15]
        self.socket = self.dir / "docker.sock"
        self.url = f"unix://{self.socket}"
        self.pidfile = self.dir / "dockerd.pid"
        self.log_path = self.dir / "dockerd.log"
        self.gateway = None
        self.proc = None
        self.client = None

    # --- the bridge ---------------------------------------------------------------

    def _make_bridge(self):
        if subprocess.run(["ip", "link", "show", self.bridge], capture_output=True).returncode == 0:
            _ip("link", "del", self.bridge)  # left by a run that crashed; ours by name and prefix
        taken = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=True).stdout
        routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=True).stdout
        net = next(n for n in SUBNETS if f" {n}." not in taken and f"{n}.0/" not in routes)
        self.gateway = f"{net}.1"
        _ip("link", "add", "name", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")

    # --- the daemon ---------------------------------------------------------------

    def start(self, timeout=60):
        """Start dockerd (again, after a kill: same data root, same containers and volumes)."""
        if self.gateway is None:
            (self.dir / "root").mkdir()
            (self.dir / "exec").mkdir()
            self._make_bridge()
        self._forget_dead_containerd()
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [
                "dockerd",
                "--data-root", str(self.dir / "root"),
                "--exec-root", str(self.dir / "exec"),
                "--pidfile", str(self.pidfile),
                "-H", self.url,
                "--bridge", self.bridge,
                "--iptables=false",
                "--ip-masq=false",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C of pytest does not reach it; stop() does
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockerd exited at start:\n{self.log()[-3000:]}")
            if self.pidfile.exists() and self.socket.exists():
                try:
                    self.client = docker.DockerClient(base_url=self.url, timeout=30)
                    self.client.ping()
                    return self
                except Exception:
                    pass
            time.sleep(0.2)
        raise RuntimeError(f"dockerd did not answer within {timeout}s:\n{self.log()[-3000:]}")

    @property
    def pid(self):
        return int(self.pidfile.read_text().strip())

    def signal(self, sig):
        os.kill(self.pid, sig)

    def kill(self):
        """SIGKILL dockerd, as a crash: its containers' shims live on, its API is gone."""
        pid = self.pid
        os.kill(pid, signal.SIGKILL)
        self.proc.wait(30)
        self.client = None

    def freeze(self):
        self.signal(signal.SIGSTOP)

    def thaw(self):
        self.signal(signal.SIGCONT)

    def load_image(self, ref, timeout=300):
        """Copy an image from the main engine: ``docker save | docker load`` (~16 s for 600 MB)."""
        save = subprocess.Popen(["docker", "save", ref], stdout=subprocess.PIPE)
        load = subprocess.run(
            ["docker", "-H", self.url, "load", "-q"],
            stdin=save.stdout,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        save.stdout.close()
        if save.wait(timeout) != 0 or load.returncode != 0:
            raise RuntimeError(f"docker save | docker load of {ref} failed: {load.stderr}")
        self.client.images.get(ref)

    def stop(self):
        """Stop dockerd by its pid and remove everything it had: containers, bridge, folder."""
        try:
            if self.proc is not None and self.proc.poll() is not None:
                # Killed and not started again: its containers still run under their
                # shims. Started once more, it stops them itself.
                try:
                    self.start()
                except Exception:
                    pass
            if self.proc and self.proc.poll() is None:
                try:
                    os.kill(self.pid, signal.SIGCONT)  # a frozen daemon cannot stop
                    for c in docker.DockerClient(base_url=self.url, timeout=30).containers.list(all=True):
                        c.remove(force=True)
                except Exception:
                    pass  # stopped anyway below
                os.kill(self.pid, signal.SIGTERM)
                try:
                    self.proc.wait(60)
                except subprocess.TimeoutExpired:
                    os.kill(self.pid, signal.SIGKILL)
                    self.proc.wait(30)
            # Its containerd, by its own pidfile, if it outlived dockerd.
            pid = self._containerd_pid()
            if pid:
                os.kill(pid, signal.SIGTERM)
        finally:
            for mount in reversed(_mounts_under(self.dir)):
                subprocess.run(["umount", "-l", mount], capture_output=True)
            if self.gateway is not None:
                _ip("link", "del", self.bridge, check=False)
            shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def _containerd_pidfile(self):
        return self.dir / "exec" / "containerd" / "containerd.pid"

    def _containerd_pid(self):
        """The pid in this daemon's containerd pidfile, if that process lives and is ours."""
        try:
            pid = self._containerd_pidfile.read_text().strip()
        except OSError:
            return None
        # A live process whose command line names our folder (a zombie has none).
        return int(pid) if pid.isdigit() and str(self.dir) in _cmdline(pid) else None

    def _forget_dead_containerd(self):
        # dockerd's containerd dies with it (parent-death signal). Where nothing reaps
        # orphans it stays a zombie, and dockerd would take the pid in its pidfile for
        # a live containerd and wait for it in vain.
        if self._containerd_pidfile.exists() and self._containerd_pid() is None:
            self._containerd_pidfile.unlink()

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _ip(*args, check=True):
    subprocess.run(["ip", *args], capture_output=True, check=check)


def _cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _mounts_under(folder):
    prefix = str(folder) + "/"
    with open("/proc/mounts") as f:
        return [line.split()[1] for line in f if line.split()[1].startswith(prefix)]
