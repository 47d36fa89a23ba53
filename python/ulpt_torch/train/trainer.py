"""Mirrors src/train/trainer.ts (the loop): a frozen model and a trainable prompt, AdamW on the prompt only,
evaluation, best-adapter choice, early stopping and checkpoints that resume exactly, on either engine. Progress goes
out as TrainerMessage lines (src/protocol.ts) and into the run folder, written by rank 0 alone."""
import contextlib
import os
import socket
import shutil
import time
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from ..config import check_config
from ..io.adapter import adapter_meta, write_adapter
from ..io.prepared import PREPARED_FILE, read_prepared
from ..io.safetensors_file import read_all
from ..models.loader import device_words, embedding_fingerprint, load_model, parameter_count, weight_bytes
from ..ulpt.projection import parse_seed
from ..ulpt.prompt import create_prompt
from .batch import ExampleStream, collate_for, rank_share
from .eta import eta_from_points
from .checkpoint import CHECKPOINT_FILE, load_checkpoint, prompt_shape, save_checkpoint
from .evaluate import Lockstep, evaluate_share, finish, max_new_tokens, primary_metric
from .objective import batch_loss
from .optimizer import AdamW, clip_by_global_norm
from .parallel import World, agree, all_reduce_sum, barrier, gather_objects
from .run_folder import RUN_FILES, RunFiles, RunHolder
from .schedule import learning_rate

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class Options:
    run_dir: str
    resume: bool = False
    device: str = "auto"
    precision: str = "fp32"
    checkpointing: bool = False
    # "fsdp": the model's blocks sharded over the processes (a model too big for one device); "none": each holds it all.
    shard: str = "none"
    owner: str = "ulpt train"
    model_dir: Optional[str] = None  # the model folder, when not where the job was prepared
    out: Optional[str] = None  # the adapter's path, when not the config's (an exported job on a cluster)
    # End this session after this many optimiser steps in total (the schedule still spans config.steps).
    stop_at_step: Optional[int] = None
    should_stop: Callable[[], bool] = lambda: False


def choose_device(requested: str, world: World) -> torch.device:
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    if requested == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("--device cuda: this PyTorch sees no CUDA device (torch.cuda.is_available() is False).")
        device = torch.device("cuda", world.local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)  # NCCL and FSDP work on the current device
        return device
    if requested == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError("--device mps: Apple's Metal backend is not available to this PyTorch.")
    return torch.device(requested)


class Session:
    """One training session of a run folder: everything the loop shares."""

    def __init__(self, opts: Options, world: World, holder: RunHolder):
        self.opts, self.world, self.holder = opts, world, holder
        self.files = RunFiles(opts.run_dir)
        job = read_prepared(os.path.join(opts.run_dir, PREPARED_FILE), with_decoder=world.leader, model_dir=opts.model_dir)
        self.config = check_config(job.config, f"{PREPARED_FILE} (its config)")
        self.job, self.facts = job, job.facts
        self.device = choose_device(opts.device, world)
        if opts.precision != "fp32" and self.device.type != "cuda":
            raise RuntimeError(f"--precision {opts.precision} needs a CUDA device; this run is on {self.device.type} (use fp32).")
        # Weights in the compute precision; the prompt and AdamW's moments stay float32.
        self.sharded = opts.shard == "fsdp" and world.distributed
        self.lm = load_model(job.facts.model["dir"], job.facts.seq2seq, self.device, PRECISIONS[opts.precision], checkpointing=opts.checkpointing,
                             shard_over=world.size if self.sharded else 1)
        self._check_fingerprint(opts.precision)
        c = self.config
        self.seed = parse_seed(c["seed"])
        self.prompt = create_prompt(c["method"], c["promptLength"], c["rank"], job.facts.model["hiddenSize"], self.seed, c["alignment"],
                                    c.get("scaleInit", "one"), self.lm.embedding_matrix).to(self.device)
        self.optimizer = AdamW(self.prompt.variables(), c["weightDecay"])
        self.scale = 2.0**16 if opts.precision == "fp16" else 1.0  # fp16's loss scale (halved on overflow)

    def _check_fingerprint(self, precision: str) -> None:
        """The weights are those the job was prepared (and its adapters will be labelled) for. In half precision the
        loaded embeddings are rounded, so only float32 runs can check."""
        if precision != "fp32":
            return
        want, got = self.facts.model["fingerprint"], embedding_fingerprint(self.lm.embedding_matrix)
        if want != got:
            raise RuntimeError(f"{self.facts.model['dir']} is not the model this job was prepared for: its token embeddings have fingerprint "
                               f"{got}, the prepared job says {want}. Point --model at the same model, or prepare the job again.")

    def autocast(self):
        if self.opts.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=PRECISIONS[self.opts.precision])

    def evaluate(self, with_prompt: bool):
        """Every rank evaluates its consecutive share of the validation set; rank 0 gets the metrics (others None)."""
        c, split = self.config, self.job.validation
        lockstep = Lockstep(self.world, self.device, split.pairs()[0]) if self.sharded else None
        with torch.no_grad(), self.autocast():
            p = self.prompt() if with_prompt else None
            mine = evaluate_share(self.lm, self.facts, p, split.pairs()[rank_share(len(split), self.world.size, self.world.rank)], c["task"]["type"], c["batchSize"], self.device, max_new_tokens(split), lockstep)
        every = gather_objects(self.world, mine)
        return finish(every, split, c["task"], self.facts) if self.world.leader else None


def _tokens(examples, n: int) -> int:
    """Positions a step computed: every real token (input, target; T5's decoder input too) plus the virtual tokens."""
    return sum(len(i) + len(t) + n for i, t in examples)


def gradients(s: Session, micro_batches, normalizer: int):
    """Loss and prompt gradients of this rank's share of every micro-batch, summed over ranks (fixed order)."""
    n = s.prompt.length
    for p in s.prompt.variables().values():
        p.grad = None
    loss = torch.zeros((), dtype=torch.float32, device=s.device)
    for examples in micro_batches:
        # splitBatch's cut: consecutive runs differing by at most one; a rank beyond the batch's size gets none.
        part = examples[rank_share(len(examples), s.world.size, s.world.rank)]
        weight = 1.0
        if not part:
            if not s.sharded:
                continue
            # A sharded model's blocks gather their weights from every process, forward and backward: this process
            # runs the batch's first example too, with weight 0, so that every process runs the same passes.
            part, weight = examples[:1], 0.0
        batch = collate_for(s.facts, part, n).to(s.device)
        with s.autocast():
            value = batch_loss(s.lm, s.prompt(), batch, normalizer) * weight
        (value * s.scale).backward()
        loss += value.detach().float()
    variables = s.prompt.variables()
    # A rank with no examples this step still takes part in the sum, with zeros.
    grads = [v.grad if v.grad is not None else torch.zeros_like(v) for v in variables.values()]
    summed = all_reduce_sum(s.world, [loss.reshape(1)] + grads)
    return summed[0][0], {k: g / s.scale for k, g in zip(variables, summed[1:])}


def train(opts: Options, world: World, emit_line) -> dict:
    holder = RunHolder(opts.run_dir, opts.owner, emit_line, writer=world.leader)
    holder.hold()
    try:
        return _train_held(opts, world, holder)
    except BaseException as e:
        if world.distributed and _peer_lost(e):
            holder.abandon(f"A process of the run was lost ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'no message'}); "
                           f"the run is interrupted at step {holder.step}. Resume it from its checkpoint with ulpt train --resume {opts.run_dir}.")
            raise
        if not isinstance(e, (KeyboardInterrupt, SystemExit)):
            # A fault in the program keeps its stack; errors written for people do not (isInternalError's rule).
            holder.fail(e, isinstance(e, (TypeError, AttributeError, NameError, IndexError, KeyError, AssertionError)))
        raise
    finally:
        holder.release()


def _peer_lost(e: BaseException) -> bool:
    """A collective that failed because another rank went away (gloo: the connection closed; NCCL: a remote error)."""
    dist_error = getattr(torch.distributed, "DistError", ())
    text = str(e).lower()
    return isinstance(e, dist_error) or (isinstance(e, RuntimeError) and any(w in text for w in ("connection closed", "connection reset", "gloo", "nccl", "broken pipe")))


def _train_held(opts: Options, world: World, holder: RunHolder) -> dict:
    s = Session(opts, world, holder)
    emit, files, c, facts = holder.emit, s.files, s.config, s.facts
    metric = primary_metric(c["task"])
    state = {"step": 0, "bestValue": None, "bestStep": None, "bestMetrics": None, "evalsWithoutImprovement": 0, "elapsedMs": 0,
             "shape": prompt_shape(s.prompt)}
    checkpoint_file = files.file(CHECKPOINT_FILE)
    if opts.resume:
        state.update(load_checkpoint(checkpoint_file, s.prompt, s.optimizer))
        state.pop("threads", None)  # the built-in engine's thread count says nothing about this engine's sums
    if s.job.inputs is not None:
        state["inputs"] = s.job.inputs  # what the steps from here on train with (a later resume compares)
        if world.leader:
            files.truncate_metrics(state["step"])
    for message in s.job.warnings:
        emit({"type": "log", "level": "warn", "message": message})
    if world.leader:
        files.write_json(RUN_FILES["config"], c)
    device = device_words(s.device) + (f" × {world.size} processes" if world.distributed else "")
    devices = gather_objects(world, f"{socket.gethostname()} {s.device}")
    model = facts.model
    threads = torch.get_num_threads() if s.device.type == "cpu" else 1
    engine_fields = {"engine": "torch", "devices": devices, "worldSize": world.size, **({"sharding": "fsdp"} if s.sharded else {})}
    emit({
        "type": "started", "runDir": files.dir, "config": c,
        "backend": {"requested": c["backend"], "name": "torch", "device": device, "skipped": []},
        "model": {"modelType": model["modelType"], "name": model["name"], "hiddenSize": model["hiddenSize"], "vocabSize": model["vocabSize"],
                  "numLayers": model["numLayers"], "parameters": parameter_count(s.lm.model), "fingerprint": model["fingerprint"]},
        "trainableParameters": s.prompt.trainable_parameters, "vanillaParameters": c["promptLength"] * model["hiddenSize"],
        "totalSteps": c["steps"], "startStep": state["step"], "examples": {"train": len(s.job.train), "validation": len(s.job.validation)},
        "warnings": s.job.warnings, "threads": threads, **engine_fields,
    })
    for message in s.job.model_warnings:
        emit({"type": "log", "level": "warn", "message": message})
    if s.sharded:
        held = gather_objects(world, weight_bytes(s.lm.model, local=True))
        whole = weight_bytes(s.lm.model)
        emit({"type": "log", "level": "info", "message": f"FSDP: the model's blocks are sharded over {world.size} processes; each holds "
              f"{_mib(max(held))} of its {_mib(whole)} of weights (embeddings, final norm and output head whole on each)."})
    return _loop(s, state, metric, device, threads, engine_fields)


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def _save_adapter(s: Session, path: str, step: int, metrics: dict) -> None:
    meta = adapter_meta(s.prompt, s.config, s.facts.model, s.job.labels, s.seed, step, metrics, "torch")
    write_adapter(path, meta, {k: v.detach() for k, v in s.prompt.variables().items()})


def _loop(s: Session, state: dict, metric: str, device: str, threads: int, engine_fields: dict) -> dict:
    c, files, emit, world = s.config, s.files, s.holder.emit, s.world
    leader = world.leader
    has_validation = len(s.job.validation) > 0

    def run_eval():
        if not has_validation:
            return
        res = s.evaluate(True)  # every rank computes its share
        if not leader:
            return
        value = res.metrics[metric]
        best_loss = state["bestMetrics"]["loss"] if state["bestMetrics"] else float("inf")
        # Ties on the metric (common early on: exact match stays 0) go to the lower eval loss.
        best = state["bestValue"] is None or value > state["bestValue"] or (value == state["bestValue"] and res.loss < best_loss)
        if best:
            state.update(bestValue=value, bestStep=state["step"], bestMetrics={"loss": res.loss, **res.metrics}, evalsWithoutImprovement=0)
            _save_adapter(s, files.file(RUN_FILES["best"]), state["step"], state["bestMetrics"])
            emit({"type": "adapter", "step": state["step"], "path": files.file(RUN_FILES["best"]), "reason": "best"})
        else:
            state["evalsWithoutImprovement"] += 1
        point = {"step": state["step"], "loss": res.loss, "metrics": res.metrics, "metric": metric, "value": value, "best": best}
        files.append_metrics({"type": "eval", **point})
        emit({"type": "eval", **point})

    checkpointed_at = state["step"] if s.opts.resume else -1
    session_start = time.time() * 1000 - state["elapsedMs"]

    def checkpoint():
        nonlocal checkpointed_at
        checkpointed_at = state["step"]
        state["elapsedMs"] = time.time() * 1000 - session_start
        if leader:
            save_checkpoint(files.file(CHECKPOINT_FILE), s.prompt, s.optimizer, state)
            emit({"type": "checkpoint", "step": state["step"], "path": files.file(CHECKPOINT_FILE)})

    baseline = None
    if state["step"] == 0 and has_validation:
        res = s.evaluate(False)
        if leader:
            baseline = {"loss": res.loss, "metrics": res.metrics}
            files.append_metrics({"type": "baseline", "step": 0, **baseline})
            emit({"type": "baseline", **baseline})
    if state["step"] == 0 and c["evalEvery"] > 0:
        run_eval()
    stream = ExampleStream(len(s.job.train), s.seed)
    micro, accum, n = c["batchSize"], c["gradAccumulation"], c["promptLength"]
    train_pairs = s.job.train.pairs()
    first_step, loop_start = state["step"], time.time()
    recent = []  # the last steps' points, for the ETA
    last_loss, reason = None, "completed"
    last_step = c["steps"] if s.opts.stop_at_step is None else min(c["steps"], s.opts.stop_at_step)
    while state["step"] < last_step:
        if agree(world, leader and (s.opts.should_stop() or s.holder.stop_requested()), s.device):
            reason = "stopped"
            break
        t0 = time.time()
        micro_batches = [[train_pairs[i] for i in stream.micro_batch(state["step"] * accum + g, micro)] for g in range(accum)]
        # Every micro-batch is divided by the target tokens of the whole step, so accumulation equals one big batch.
        normalizer = sum(len(t) for mb in micro_batches for _, t in mb)
        loss, grads = gradients(s, micro_batches, normalizer)
        if not all(torch.isfinite(g).all() for g in grads.values()) and s.scale > 1:
            s.scale /= 2  # fp16 overflow: this step's update is skipped, as a GradScaler skips it
            continue
        norm = clip_by_global_norm(grads, c["maxGradNorm"])
        lr = learning_rate(c["lr"], state["step"], c["warmupSteps"], c["steps"])
        s.optimizer.step(grads, lr)
        state["step"] += 1
        last_loss = float(loss)
        now = time.time()
        elapsed = now * 1000 - session_start
        tokens = sum(_tokens(mb, n) for mb in micro_batches)
        per_step = (now - loop_start) * 1000 / (state["step"] - first_step)
        point = {"step": state["step"], "loss": last_loss, "lr": lr, "gradNorm": float(norm), "tokens": tokens,
                 "tokensPerSecond": tokens / max(1e-3, now - t0), "elapsedMs": elapsed}
        if leader:
            files.append_metrics({"type": "train", **point})
        recent = (recent + [point])[-21:]
        # The ETA every reader computes from these points (eta.py, src/train/eta.ts); the session's pace until two.
        eta = eta_from_points(recent, c["steps"])
        emit({"type": "step", **point, "totalSteps": c["steps"], "etaMs": eta if eta is not None else per_step * (c["steps"] - state["step"])})
        at_end = state["step"] == c["steps"]
        if (state["step"] % c["evalEvery"] == 0 or at_end) if c["evalEvery"] > 0 else at_end:
            run_eval()
        if c["checkpointEvery"] > 0 and state["step"] % c["checkpointEvery"] == 0:
            checkpoint()
        patience = c["earlyStoppingPatience"]
        if agree(world, leader and patience > 0 and state["evalsWithoutImprovement"] >= patience, s.device):
            reason = "early-stopped"
            emit({"type": "log", "level": "info", "message": f"No improvement in {metric} for {state['evalsWithoutImprovement']} evaluations: stopping early at step {state['step']}."})
            break
    # However the loop ended (done, stopped, early-stopped), the run can be resumed from where it is.
    if checkpointed_at != state["step"]:
        checkpoint()
    if state["step"] < c["steps"] and reason == "completed":
        reason = "stopped"
    barrier(world)
    if not leader:
        return {"reason": reason}
    final_metrics = state["bestMetrics"] if state["bestMetrics"] and state["bestStep"] == state["step"] else {}
    _save_adapter(s, files.file(RUN_FILES["final"]), state["step"], final_metrics)
    adapter = _publish(s, state, reason) if reason != "stopped" else None
    summary = {
        "runDir": files.dir, "steps": state["step"], "reason": reason, "adapter": adapter, "bestStep": state["bestStep"], "best": state["bestMetrics"],
        "metric": metric, "baseline": baseline, "final": None if last_loss is None else {"loss": last_loss}, "trainableParameters": s.prompt.trainable_parameters,
        "seconds": (time.time() * 1000 - session_start) / 1000, "backend": "torch", "device": device, "threads": threads,
        "warnings": len(s.job.warnings), **engine_fields,
    }
    files.write_json(RUN_FILES["summary"], summary)
    emit({"type": "finished", "summary": summary})
    return summary


def _out_problem(out: str, force: bool) -> Optional[str]:
    """Why the adapter cannot be copied to `out` now (checked again: something may have been put there while the run trained)."""
    if os.path.isdir(out):
        return f"out {out} is a folder; it must name the adapter file to write."
    if not os.path.exists(out) or force:
        return None
    try:
        if "ulpt" in read_all(out)[1]:
            return None  # an older adapter: replacing it is what `out` is for
    except Exception:
        pass
    return f"out {out} exists and is not a ULPT adapter, so it is not replaced. Choose another path, or pass --force to replace it."


def _publish(s: Session, state: dict, reason: str) -> Optional[str]:
    """The best evaluated adapter (else the last) at config.out."""
    files, out = s.files, os.path.abspath(s.opts.out) if s.opts.out else s.config["out"]
    source = files.file(RUN_FILES["best"] if state["bestStep"] is not None else RUN_FILES["final"])
    problem = _out_problem(out, bool(s.job.force))
    if problem:
        s.holder.emit({"type": "log", "level": "warn", "message": f"{problem} The trained adapter stays in {source}."})
        return None
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    tmp = f"{out}.{os.getpid()}.tmp"
    shutil.copyfile(source, tmp)
    if os.path.getsize(tmp) != os.path.getsize(source):
        os.remove(tmp)
        raise OSError(f"{out} was not written: the copy of {source} is incomplete.")
    os.replace(tmp, out)
    s.holder.emit({"type": "adapter", "step": state["bestStep"] if state["bestStep"] is not None else state["step"], "path": out, "reason": "final"})
    return out
