"""lock.json and stop-request.json as src/train/runLock.ts defines them: live locks refuse, stale and torn ones are
replaced, a stop request newer than the process (or a damaged one, by its file time) stops the run."""
import json
import os
import time

import pytest

from ulpt_torch.train.run_lock import RunBusyError, RunLock, process_identity


def test_lock_holds_pid_identity_host_and_is_released(tmp_path):
    lock = RunLock(str(tmp_path), "test")
    on_disk = json.loads((tmp_path / "lock.json").read_text())
    assert on_disk["pid"] == os.getpid() and on_disk["owner"] == "test"
    assert on_disk["processId"] == process_identity(os.getpid())
    with pytest.raises(RunBusyError, match="already being trained by test"):
        RunLock(str(tmp_path), "second")
    lock.release()
    assert not (tmp_path / "lock.json").exists()


def test_stale_and_torn_locks_are_replaced(tmp_path):
    (tmp_path / "lock.json").write_text(json.dumps({"pid": 2**22 + 12345, "host": os.uname().nodename, "heartbeat": "2000-01-01T00:00:00.000Z"}))
    RunLock(str(tmp_path), "test").release()
    (tmp_path / "lock.json").write_text("")
    old = time.time() - 10
    os.utime(tmp_path / "lock.json", (old, old))
    RunLock(str(tmp_path), "test").release()


def test_stop_requests(tmp_path):
    stop = tmp_path / "stop-request.json"
    stop.write_text(json.dumps({"requestedAt": "2000-01-01T00:00:00.000Z", "by": "old"}))
    lock = RunLock(str(tmp_path), "test")
    assert not stop.exists(), "a request older than the process is removed"
    assert not lock.stop_requested()
    stop.write_text("")  # damaged: taken as a request, dated by the file
    assert lock.stop_requested()
    assert "is empty" in lock.damaged_stop
    lock.release()
    assert not stop.exists()
