"""Mirrors src/process/trainer.ts and the train command of src/cli.ts: `python -m ulpt_torch train --run-dir DIR`.

Prints one TrainerMessage JSON per line on stdout (rank 0 only). Exit status as the CLI's: 0 done; 1 the model, data
or training failed; 2 the command line or configuration is wrong; 130 stopped (a checkpoint is kept)."""
import argparse
import signal
import sys

from .io.safetensors_file import js_json


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ulpt_torch", description="The PyTorch engine of ULPT Studio.")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train the job prepared in a run folder (ulpt train --engine torch prepares it)")
    t.add_argument("--run-dir", required=True, help="the run folder holding prepared.safetensors")
    t.add_argument("--resume", action="store_true", help="continue from the folder's checkpoint.safetensors (either engine's)")
    t.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    t.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"], help="autocast precision on CUDA; the prompt and AdamW stay fp32")
    t.add_argument("--gradient-checkpointing", action="store_true", help="recompute the model's layers in the backward pass (less memory)")
    t.add_argument("--shard", default="none", choices=["none", "fsdp"],
                   help="fsdp: shard the model's blocks over the torchrun processes (a model too big for one device)")
    t.add_argument("--owner", default="ulpt train", help="who trains, for lock.json")
    t.add_argument("--model", help="the model folder, when it is not where the job was prepared (the same model, copied to a cluster)")
    t.add_argument("--out", help="where the trained adapter goes, instead of the config's out (an exported job's launch.sh sets it)")
    t.add_argument("--stop-at-step", type=int, help="end this session after this many steps in total (the schedule still spans the config's steps)")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    from .config import ConfigError
    from .io.prepared import PreparedError
    from .train.parallel import close_world, init_world
    from .train.run_lock import RunBusyError
    from .train.trainer import Options, train

    stop = {"asked": False}

    def on_signal(signum, frame):
        if stop["asked"]:
            sys.exit(130)
        stop["asked"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    reader = {"gone": False}

    def emit_line(message: dict) -> None:
        # The run folder is the record; stdout only feeds whoever started the engine. When that reader is gone (a
        # closed terminal), training goes on into the folder, as the built-in trainer outlives its window.
        if reader["gone"]:
            return
        try:
            sys.stdout.write(js_json(message) + "\n")
            sys.stdout.flush()
        except (BrokenPipeError, OSError):
            reader["gone"] = True

    opts = Options(run_dir=args.run_dir, resume=args.resume, device=args.device, precision=args.precision, checkpointing=args.gradient_checkpointing, shard=args.shard,
                   owner=args.owner, model_dir=args.model, out=args.out, stop_at_step=args.stop_at_step, should_stop=lambda: stop["asked"])
    try:
        requested = "cuda" if args.device == "auto" and __import__("torch").cuda.is_available() else args.device
        world = init_world("cuda" if requested == "cuda" else "cpu")
    except Exception as e:  # noqa: BLE001 — a process group that cannot form: say so, exit 1
        print(f"ulpt_torch: the process group could not be formed: {e}", file=sys.stderr)
        return 1
    finished = False
    try:
        summary = train(opts, world, emit_line if world.leader else (lambda m: None))
        finished = True
        return 130 if summary.get("reason") == "stopped" else 0
    except (ConfigError, PreparedError, RunBusyError) as e:
        print(f"ulpt_torch: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 — reported in failure.json and on stderr
        print(f"ulpt_torch: {e}", file=sys.stderr)
        return 1
    finally:
        close_world(world, finished)


if __name__ == "__main__":
    sys.exit(main())
