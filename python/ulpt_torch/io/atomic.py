"""Mirrors src/io/atomic.ts: a file is written whole or not at all (temp file, fsync, rename)."""
import os


def write_file_atomic(path: str, data) -> None:
    if isinstance(data, str):
        data = data.encode("utf-8")
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if os.path.getsize(tmp) != len(data):
            raise OSError(f"{path} was not written: {os.path.getsize(tmp)} of {len(data)} bytes reached the disk.")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
