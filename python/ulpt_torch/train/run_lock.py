"""Mirrors src/train/runLock.ts: lock.json (pid, process identity, host, heartbeat) held while this process trains
the run, and stop-request.json read between steps. The run folder is the only channel: no IPC."""
import json
import os
import secrets
import socket
import threading
import time
from datetime import datetime
from typing import Optional

from ..io.adapter import iso_now
from ..io.safetensors_file import js_json

RUN_LOCK_FILE = "lock.json"
STOP_REQUEST_FILE = "stop-request.json"
HEARTBEAT_S = 5.0
STALE_S = 30.0
# An empty or non-JSON lock.json younger than this may still be being written (runLock.ts DAMAGED_GRACE_MS).
DAMAGED_GRACE_S = 2.0
PROCESS_START = time.time()


class RunBusyError(Exception):
    pass


_boot_id = None


def process_identity(pid: int) -> Optional[str]:
    """Linux: boot id + the process's start time in clock ticks (field 22 of /proc/PID/stat), as the TypeScript side forms it."""
    global _boot_id
    try:
        if _boot_id is None:
            with open("/proc/sys/kernel/random/boot_id") as f:
                _boot_id = f.read().strip()
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        fields = stat[stat.rindex(")") + 2 :].split(" ")
        return f"linux:{_boot_id}:{fields[19]}"
    except OSError:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except PermissionError:
        pass
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        return stat[stat.rindex(")") + 2] not in "ZX"
    except OSError:
        return True  # no /proc (macOS): the signal said it exists


def _parse_iso(text: str) -> float:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except (ValueError, AttributeError):
        return float("nan")


def _owner_alive(lock: dict) -> bool:
    fresh = time.time() - _parse_iso(lock.get("heartbeat", "")) < STALE_S
    if lock.get("host") != socket.gethostname():
        return fresh
    if not _alive(lock["pid"]):
        return False
    ident = process_identity(lock["pid"]) if lock.get("processId") else None
    if lock.get("processId") and ident and ident != lock["processId"]:
        return False
    return bool(ident) or fresh


def _write_json(path: str, value: dict) -> None:
    tmp = f"{path}.{os.getpid()}.heartbeat.tmp"
    with open(tmp, "w") as f:
        f.write(js_json(value, 2) + "\n")
    os.replace(tmp, path)


class RunLock:
    """This process's hold on a run folder: a heartbeat thread, the stop request, release."""

    def __init__(self, run_dir: str, owner: str):
        self.dir = run_dir
        self.file = os.path.join(run_dir, RUN_LOCK_FILE)
        self.stop_file = os.path.join(run_dir, STOP_REQUEST_FILE)
        current = self._read()
        if current and _owner_alive(current):
            raise RunBusyError(f"{run_dir} is already being trained by {current.get('owner')} (pid {current['pid']} on {current.get('host')}, since {current.get('startedAt')}).")
        if current or self._damaged_and_old():
            os.remove(self.file)
        now = iso_now()
        self.lock = {"version": 1, "pid": os.getpid(), "processId": process_identity(os.getpid()), "host": socket.gethostname(), "owner": owner,
                     "startedAt": now, "heartbeat": now, "token": secrets.token_hex(8)}
        # Created whole: a complete temp file hard-linked into place (exclusive), so no reader sees a torn lock.
        tmp = f"{self.file}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(js_json(self.lock, 2) + "\n")
        try:
            os.link(tmp, self.file)
        except FileExistsError:
            raise RunBusyError(f"{run_dir} was just taken by another process.") from None
        finally:
            os.remove(tmp)
        self.damaged_stop = None
        # A request left from an earlier attempt must not stop this one.
        if os.path.exists(self.stop_file) and not self._pending():
            os.remove(self.stop_file)
        self.stop_seen = False
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)
        self.thread.start()

    def _read(self) -> Optional[dict]:
        try:
            with open(self.file) as f:
                lock = json.load(f)
            return lock if isinstance(lock.get("pid"), int) and isinstance(lock.get("host"), str) else None
        except (OSError, ValueError):
            return None

    def _damaged_and_old(self) -> bool:
        """A lock.json that holds no lock (a process killed while writing it) and is older than the grace period."""
        try:
            return time.time() - os.stat(self.file).st_mtime > DAMAGED_GRACE_S
        except OSError:
            return False

    def _beat(self) -> None:
        while not self.done.wait(HEARTBEAT_S):
            current = self._read()
            if not current or current.get("token") != self.lock["token"]:
                continue
            current["heartbeat"] = iso_now()
            try:
                _write_json(self.file, current)
            except OSError:
                pass  # a failed heartbeat only makes the lock look stale sooner

    def _pending(self) -> bool:
        try:
            with open(self.stop_file, encoding="utf-8") as f:
                text = f.read()
            mtime = os.stat(self.stop_file).st_mtime
        except OSError:
            return False  # absent (or unreadable)
        try:
            at = _parse_iso(json.loads(text)["requestedAt"])
            if at != at:
                raise ValueError("no requestedAt")
        except (ValueError, KeyError, TypeError, AttributeError):
            # Someone asked to stop, by hand or with a tool that wrote it badly: the file's own time says when.
            at = mtime
            what = "is not the JSON a stop request holds" if text.strip() else "is empty"
            self.damaged_stop = f"{STOP_REQUEST_FILE} {what}; it is taken as a request to stop."
        return at >= PROCESS_START - 1.0

    def stop_requested(self) -> bool:
        if not self.stop_seen and os.path.exists(self.stop_file):
            self.stop_seen = self._pending()
        return self.stop_seen

    def release(self) -> None:
        self.done.set()
        current = self._read()
        if current and current.get("token") == self.lock["token"]:
            os.remove(self.file)
        if self.stop_seen and os.path.exists(self.stop_file):
            os.remove(self.stop_file)
