"""Mirrors src/train/runFolder.ts and the RunFiles/RunHolder of src/train/trainer.ts: what a run folder holds
besides checkpoints and adapters — config.json, metrics.jsonl, trainer.log, started.json, summary.json, failure.json."""
import json
import os
import traceback
from typing import Optional

from ..io.adapter import iso_now
from ..io.atomic import write_file_atomic
from ..io.safetensors_file import js_json
from .run_lock import RunLock

RUN_FILES = {"config": "config.json", "metrics": "metrics.jsonl", "checkpoint": "checkpoint.safetensors", "best": "best.ulpt",
             "final": "final.ulpt", "summary": "summary.json", "failure": "failure.json", "started": "started.json", "log": "trainer.log"}


class RunFiles:
    def __init__(self, run_dir: str):
        self.dir = run_dir

    def file(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def append_metrics(self, line: dict) -> None:
        with open(self.file(RUN_FILES["metrics"]), "a", encoding="utf-8") as f:
            f.write(js_json(line) + "\n")

    def truncate_metrics(self, after_step: int) -> None:
        """On resume, drop lines written after the checkpoint (they will be produced again)."""
        path = self.file(RUN_FILES["metrics"])
        if not os.path.exists(path):
            return
        kept = []
        with open(path, encoding="utf-8") as f:
            for line in f.read().split("\n"):
                if not line.strip():
                    continue
                try:
                    if json.loads(line)["step"] <= after_step:
                        kept.append(line)
                except (ValueError, KeyError, TypeError):
                    pass  # a torn last line from a crash
        write_file_atomic(path, "".join(line + "\n" for line in kept))

    def write_json(self, name: str, value) -> None:
        write_file_atomic(self.file(name), js_json(value, 2) + "\n")


class RunHolder:
    """The run folder as this process holds it: the lock, every message also in trainer.log, started.json, failure.json.

    Rank 0 alone holds it; other ranks get a holder that writes nothing (`writer=False`)."""

    def __init__(self, run_dir: str, owner: str, emit_line, writer: bool = True):
        self.dir = run_dir
        self.owner = owner
        self.emit_line = emit_line
        self.writer = writer
        self.lock: Optional[RunLock] = None
        self.step = 0

    def hold(self) -> None:
        if not self.writer or self.lock:
            return
        self.lock = RunLock(self.dir, self.owner)
        # A new attempt: the failure of the previous one no longer describes the run.
        path = os.path.join(self.dir, RUN_FILES["failure"])
        if os.path.exists(path):
            os.remove(path)

    def emit(self, message: dict) -> None:
        if not self.writer:
            return
        if message["type"] == "step":
            self.step = message["step"]
        if self.lock:
            if message["type"] == "started":
                write_file_atomic(os.path.join(self.dir, RUN_FILES["started"]), js_json(message, 2) + "\n")
            try:
                with open(os.path.join(self.dir, RUN_FILES["log"]), "a", encoding="utf-8") as f:
                    f.write(js_json(message) + "\n")
            except OSError:
                pass  # best effort, as appendLogMessage: the run reports a full disk when it writes metrics
        self.emit_line(message)

    def stop_requested(self) -> bool:
        if not (self.lock and self.lock.stop_requested()):
            return False
        if self.lock.damaged_stop:
            self.emit({"type": "log", "level": "warn", "message": self.lock.damaged_stop})
            self.lock.damaged_stop = None
        return True

    def fail(self, error: BaseException, internal: bool) -> dict:
        """failure.json and an error message: why the run ended without finishing."""
        failure = {"message": str(error), "tail": [], "step": self.step, "time": iso_now(), "internal": internal}
        if internal:
            failure["stack"] = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        if self.writer and self.lock:
            try:
                write_file_atomic(os.path.join(self.dir, RUN_FILES["failure"]), js_json(failure, 2) + "\n")
            except OSError:
                pass
        message = {"type": "error", "message": failure["message"], **({"stack": failure["stack"]} if internal else {})}
        if self.lock:
            self.emit(message)  # into trainer.log too
        elif self.writer:
            self.emit_line(message)  # a run refused before it held its folder writes nothing there
        return failure

    def abandon(self, why: str) -> None:
        """The run is cut off, not failed (another rank died): lock.json stays behind, stale once this process is gone,
        so readers show the run as interrupted — resumable from its checkpoint — and say which process went away."""
        self.emit({"type": "log", "level": "warn", "message": why})
        if self.lock:
            self.lock.done.set()
            self.lock = None

    def release(self) -> None:
        if self.lock:
            self.lock.release()
            self.lock = None
