// Training-step benchmark: one ULPT step (forward, backward to the prompt, AdamW) on a fixed workload, for each
// backend and thread count asked for, against PyTorch doing exactly the same step on the same numbers
// (scripts/bench_torch.py, Debian's python3-torch). Every engine runs in its own process; the steps are
// interleaved (one step of each engine per round, the order rotating), so a busy machine slows all sides alike.
//
//   node out/bench.js --workload w1|w2|example[,…] [--engines builtin,torch] [--backends wasm,cpu] [--threads 1,2] [--compare-torch]
//                     [--runs 10] [--warmup 2] [--profile] [--torch-device cpu|cuda] [--python PATH] [--json]
//
// Workloads (random weights are generated in the run, in a temporary folder, never committed):
//   w1       GPT-2 architecture, d 256, 4 layers, 4 heads, vocab 8192; batch 8 × 128 tokens, 16 targets each; n 16, r 2
//   w2       GPT-2 small (d 768, 12 layers, 12 heads, vocab 50257, 1024 positions); batch 16 × 256, 16 targets; n 100, r 2
//   example  the shipped examples/workspace/model; batch 16 × 24 tokens, 2 targets; n 10, r 2
// On webgpu a row also counts, per timed step, the transfers back to the CPU, the uploads, the kernel launches and
// the pipelines compiled, and the most GPU memory the backend held (`gpu`).
//
// --json prints one JSON object per line: one per backend and thread count, one per PyTorch thread count, each
// with ms_per_step (median), min_ms, tokens_per_s, peak_rss_mb, rss growth, the first step's loss, and the ratio
// to PyTorch with the same thread count; --profile adds each tfjs engine's time per kernel (tf.profile).
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { parseArgs } from 'node:util';
import { initBackend, isBackendName, tf, type BackendName, type ConcreteBackend } from '../src/backend';
import { writeSafetensors, type TensorToWrite } from '../src/io/safetensors';
import { gpuCounters } from '../src/kernels/webgpu/counters';
import { loadModel } from '../src/models/loader';
import { collate, type TokenPair } from '../src/train/batch';
import { AdamW, ADAMW_DEFAULTS } from '../src/train/optimizer';
import { chooseThreads, createStepRunner, deviceWithThreads } from '../src/train/parallel';
import { createPrompt } from '../src/ulpt/prompt';
import { projectionMatrix, SplitMix64 } from '../src/ulpt/projection';

const ROOT = path.resolve(__dirname, '..');
const EXAMPLE_MODEL = path.join(ROOT, 'examples', 'workspace', 'model');

interface Workload {
  /** A random GPT-2 of these dimensions, or a model folder. */
  model: { vocab: number; positions: number; d: number; layers: number; heads: number } | string;
  batch: number;
  seq: number;
  targets: number;
  promptLength: number;
  rank: number;
}

const WORKLOADS: Record<string, Workload> = {
  w1: { model: { vocab: 8192, positions: 1024, d: 256, layers: 4, heads: 4 }, batch: 8, seq: 128, targets: 16, promptLength: 16, rank: 2 },
  w2: { model: { vocab: 50257, positions: 1024, d: 768, layers: 12, heads: 12 }, batch: 16, seq: 256, targets: 16, promptLength: 100, rank: 2 },
  example: { model: EXAMPLE_MODEL, batch: 16, seq: 24, targets: 2, promptLength: 10, rank: 2 },
};

/** Everything both engines need to compute the same step: written once by the parent, read by every child. */
interface Spec {
  workload: string;
  modelDir: string;
  batch: number;
  seq: number;
  targets: number;
  promptLength: number;
  rank: number;
  lr: number;
  ids: number[]; // [batch × seq]
  z: number[]; // [n × r]
  A: number[]; // [r × d]
}

const { values: a } = parseArgs({
  options: {
    workload: { type: 'string', default: 'example' },
    engines: { type: 'string', default: 'builtin' },
    backends: { type: 'string', default: 'wasm' },
    threads: { type: 'string', default: String(os.availableParallelism?.() ?? os.cpus().length) },
    'compare-torch': { type: 'boolean', default: false },
    'torch-device': { type: 'string', default: 'cpu' },
    python: { type: 'string' },
    runs: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    profile: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
    // Internal: a child process serving one engine.
    serve: { type: 'boolean', default: false },
    spec: { type: 'string' },
    backend: { type: 'string' },
  },
});

const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const mb = (bytes: number) => bytes / 2 ** 20;

// ---- The workload: random weights (a fast seeded generator, GPT-2's initialisation), a batch, Z and A.

/** xorshift128+ with Box–Muller: fast enough for GPT-2 small's 124M weights, deterministic. */
class FastNormal {
  private s0 = 0x9e3779b9 | 0;
  private s1 = 0x243f6a88 | 0;
  constructor(seed: number) {
    this.s0 ^= seed;
    for (let i = 0; i < 8; i++) this.uniform();
  }
  uniform(): number {
    let x = this.s0;
    const y = this.s1;
    this.s0 = y;
    x ^= x << 23;
    x ^= x >>> 17;
    x ^= y ^ (y >>> 26);
    this.s1 = x;
    return ((this.s0 + this.s1) >>> 0) / 4294967296;
  }
  fill(out: Float32Array, std: number): Float32Array {
    for (let i = 0; i < out.length; i += 2) {
      const r = Math.sqrt(-2 * Math.log(1 - this.uniform())) * std;
      const t = 2 * Math.PI * this.uniform();
      out[i] = r * Math.cos(t);
      if (i + 1 < out.length) out[i + 1] = r * Math.sin(t);
    }
    return out;
  }
}

/** A GPT-2 checkpoint folder with random weights (N(0, 0.02), c_proj scaled by 1/√(2L), LayerNorm 1/0). */
function writeRandomGpt2(dir: string, m: Exclude<Workload['model'], string>): void {
  const rng = new FastNormal(1234);
  const t: Record<string, TensorToWrite> = {};
  const normal = (shape: number[], std: number) => ({ shape, data: rng.fill(new Float32Array(shape.reduce((x, y) => x * y, 1)), std) });
  const filled = (shape: number[], v: number) => ({ shape, data: new Float32Array(shape.reduce((x, y) => x * y, 1)).fill(v) });
  const { d, layers } = m;
  t['wte.weight'] = normal([m.vocab, d], 0.02);
  t['wpe.weight'] = normal([m.positions, d], 0.01);
  t['ln_f.weight'] = filled([d], 1);
  t['ln_f.bias'] = filled([d], 0);
  for (let i = 0; i < layers; i++) {
    const p = `h.${i}.`;
    for (const ln of ['ln_1', 'ln_2']) {
      t[`${p}${ln}.weight`] = filled([d], 1);
      t[`${p}${ln}.bias`] = filled([d], 0);
    }
    t[`${p}attn.c_attn.weight`] = normal([d, 3 * d], 0.02);
    t[`${p}attn.c_attn.bias`] = filled([3 * d], 0);
    t[`${p}attn.c_proj.weight`] = normal([d, d], 0.02 / Math.sqrt(2 * layers));
    t[`${p}attn.c_proj.bias`] = filled([d], 0);
    t[`${p}mlp.c_fc.weight`] = normal([d, 4 * d], 0.02);
    t[`${p}mlp.c_fc.bias`] = filled([4 * d], 0);
    t[`${p}mlp.c_proj.weight`] = normal([4 * d, d], 0.02 / Math.sqrt(2 * layers));
    t[`${p}mlp.c_proj.bias`] = filled([d], 0);
  }
  writeSafetensors(path.join(dir, 'model.safetensors'), t);
  const config = {
    model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], vocab_size: m.vocab, n_positions: m.positions, n_ctx: m.positions,
    n_embd: d, n_layer: layers, n_head: m.heads, n_inner: null, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5,
    bos_token_id: m.vocab - 1, eos_token_id: m.vocab - 1, scale_attn_weights: true, tie_word_embeddings: true,
  };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  // Any tokenizer with no more tokens than the vocabulary will do: the batch is made of ids, not text.
  fs.copyFileSync(path.join(EXAMPLE_MODEL, 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
}

function makeSpec(name: string, tmp: string): Spec {
  const w = WORKLOADS[name];
  if (!w) throw new Error(`--workload must be one of ${Object.keys(WORKLOADS).join(', ')}, got "${name}".`);
  let modelDir: string;
  let vocab: number;
  let d: number;
  if (typeof w.model === 'string') {
    modelDir = w.model;
    const cfg = JSON.parse(fs.readFileSync(path.join(modelDir, 'config.json'), 'utf8')) as { vocab_size: number; n_embd: number };
    [vocab, d] = [cfg.vocab_size, cfg.n_embd];
  } else {
    modelDir = path.join(tmp, 'model');
    fs.mkdirSync(modelDir);
    writeRandomGpt2(modelDir, w.model);
    [vocab, d] = [w.model.vocab, w.model.d];
  }
  const rng = new SplitMix64(1234n);
  const ids = Array.from({ length: w.batch * w.seq }, () => Math.floor(rng.nextUnit() * (vocab - 1)));
  const z = Array.from(new FastNormal(7).fill(new Float32Array(w.promptLength * w.rank), 1));
  const A = Array.from(projectionMatrix(42n, w.rank, d));
  return { workload: name, modelDir, batch: w.batch, seq: w.seq, targets: w.targets, promptLength: w.promptLength, rank: w.rank, lr: 1e-3, ids, z, A };
}

// ---- A child: one tfjs engine (backend × threads), answering `step`, `profile` and `quit` on stdin.

/** What one step cost on webgpu beyond its kernels: transfers, launches, compiled pipelines, GPU memory held. */
interface GpuStep { readbacks: number; uploads: number; upload_bytes: number; dispatches: number; pipelines: number; gpu_mb: number }

function gpuStep(before: ReturnType<typeof gpuCounters>): GpuStep | undefined {
  const after = gpuCounters();
  if (!before || !after) return undefined;
  const held = tf.memory() as { numBytesAllocatedInGPU?: number; numBytesInGPU?: number };
  return {
    readbacks: after.readbacks - before.readbacks, uploads: after.uploads - before.uploads, upload_bytes: after.uploadBytes - before.uploadBytes,
    dispatches: after.dispatches - before.dispatches, pipelines: after.pipelines - before.pipelines,
    gpu_mb: mb(held.numBytesAllocatedInGPU ?? held.numBytesInGPU ?? 0),
  };
}

function memoryNow() {
  const m = process.memoryUsage();
  // The WASM backend's heap (it only grows) and V8's heap, to tell a leak in either from the allocator settling.
  const wasm = (tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } }).wasm;
  return {
    rss_mb: mb(m.rss), peak_rss_mb: process.resourceUsage().maxRSS / 1024, tensors: tf.memory().numTensors, js_heap_mb: mb(m.heapUsed),
    ...(wasm ? { wasm_heap_mb: mb(wasm.HEAPU8.buffer.byteLength) } : {}),
  };
}

async function serveTfjs(): Promise<void> {
  const spec = JSON.parse(fs.readFileSync(a.spec!, 'utf8')) as Spec;
  const report = await initBackend(a.backend as BackendName);
  const model = await loadModel(spec.modelDir);
  const d = model.info.hiddenSize;
  const prompt = await createPrompt({ method: 'ulpt', length: spec.promptLength, rank: spec.rank, hidden: d, seed: 42n, alignment: true }, model.tokenEmbeddings);
  prompt.assign({ z: Float32Array.from(spec.z), scale: new Float32Array(d).fill(1), shift: new Float32Array(d) });
  const optimizer = new AdamW(prompt.variables, ADAMW_DEFAULTS);
  const examples: TokenPair[] = Array.from({ length: spec.batch }, (_, b) => {
    const ids = spec.ids.slice(b * spec.seq, (b + 1) * spec.seq);
    return { inputIds: ids.slice(0, spec.seq - spec.targets), targetIds: ids.slice(spec.seq - spec.targets) };
  });
  const batch = collate(examples, model.tokenizer.padId, spec.promptLength);
  const runner = await createStepRunner({ threads: Number(a.threads), backend: report.name, model, prompt, seed: 42n });
  const step = async () => {
    const { loss: lossTensor, grads } = await runner.gradients([batch], batch.targets.length);
    optimizer.step(grads, spec.lr);
    tf.dispose([...grads.values()]);
    const loss = (await lossTensor.data())[0];
    lossTensor.dispose();
    return loss;
  };
  const reply = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');
  reply({ ready: true, device: deviceWithThreads(report.device, runner.threads), threads: runner.threads, ...memoryNow() });
  for await (const line of readline.createInterface({ input: process.stdin })) {
    const cmd = line.trim();
    if (cmd === 'quit') break;
    if (cmd === 'step') {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      const g0 = gpuCounters();
      const loss = await step();
      const c = process.cpuUsage(c0); // every thread of this process, workers included
      const gpu = gpuStep(g0);
      reply({ ms: performance.now() - t0, cpu_ms: (c.user + c.system) / 1000, loss, ...memoryNow(), ...(gpu ? { gpu } : {}) });
    } else if (cmd === 'profile') {
      reply(await profileSteps(step, 5));
    } else {
      reply({ error: `unknown command "${cmd}"` });
    }
  }
  await runner.dispose();
  optimizer.dispose();
  prompt.dispose();
  model.dispose();
}

/**
 * Steps under tf.profile: time per kernel name (forward and backward kernels alike) and per call site (name and
 * input shapes), each the median over `count` profiled steps so that one preempted kernel on a busy machine does
 * not stand out. customGrad blocks show up as scopes whose time includes the kernels inside them: left out.
 */
async function profileSteps(step: () => Promise<number>, count: number): Promise<object> {
  // The per-kernel NaN check reads every output back: not part of a step.
  const check = tf.env().getBool('CHECK_COMPUTATION_FOR_ERRORS');
  tf.env().set('CHECK_COMPUTATION_FOR_ERRORS', false);
  const backendName = tf.getBackend();
  const isKernel = (name: string) => !!tf.getKernel(name, backendName);
  const perStep: { wall: number; byName: Map<string, { calls: number; ms: number }>; bySite: Map<string, { calls: number; ms: number }> }[] = [];
  const add = (m: Map<string, { calls: number; ms: number }>, key: string, ms: number) => {
    const e = m.get(key) ?? { calls: 0, ms: 0 };
    e.calls += 1;
    e.ms += ms;
    m.set(key, e);
  };
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const info = await tf.profile(async () => {
      await step();
      return [];
    });
    const wall = performance.now() - t0;
    const byName = new Map<string, { calls: number; ms: number }>();
    const bySite = new Map<string, { calls: number; ms: number }>();
    for (const k of info.kernels.filter((x) => isKernel(x.name))) {
      add(byName, k.name, k.kernelTimeMs as number);
      add(bySite, `${k.name} ${k.inputShapes.map((sh) => `[${(sh ?? []).join(',')}]`).join(' ')}`, k.kernelTimeMs as number);
    }
    perStep.push({ wall, byName, bySite });
  }
  tf.env().set('CHECK_COMPUTATION_FOR_ERRORS', check);
  const summarise = (pick: (p: (typeof perStep)[number]) => Map<string, { calls: number; ms: number }>) =>
    [...pick(perStep[0]).keys()]
      .map((name) => ({ name, calls: pick(perStep[0]).get(name)!.calls, ms: median(perStep.map((p) => pick(p).get(name)?.ms ?? 0)) }))
      .sort((x, y) => y.ms - x.ms);
  const kernels = summarise((p) => p.byName);
  return {
    profile: true, steps: count, wall_ms: median(perStep.map((p) => p.wall)), kernel_ms: kernels.reduce((t, k) => t + k.ms, 0),
    kernel_calls: kernels.reduce((t, k) => t + k.calls, 0), kernels, sites: summarise((p) => p.bySite).slice(0, 30),
  };
}

// ---- The parent: start every engine, interleave their steps, print the figures.

interface Engine {
  label: string;
  backend: string;
  threads: number;
  proc: ChildProcessWithoutNullStreams;
  lines: AsyncIterator<string>;
  ready: { device: string; threads: number; rss_mb: number; peak_rss_mb: number };
  steps: { ms: number; cpu_ms: number; loss: number; rss_mb: number; peak_rss_mb: number; tensors?: number; js_heap_mb?: number; wasm_heap_mb?: number; gpu?: GpuStep }[];
  stderr: string[];
  failed?: string;
  profile?: { steps: number; wall_ms: number; kernel_ms: number; kernel_calls: number; kernels: { name: string; calls: number; ms: number }[]; sites: { name: string; calls: number; ms: number }[] };
}

async function ask(e: Engine, cmd: string): Promise<Record<string, unknown>> {
  if (e.proc.exitCode === null && !e.proc.stdin.destroyed) e.proc.stdin.write(cmd + '\n');
  const next = await e.lines.next();
  if (next.done) {
    const code = await new Promise<number | null>((r) => (e.proc.exitCode !== null || e.proc.signalCode !== null ? r(e.proc.exitCode) : e.proc.on('exit', (c) => r(c))));
    const tail = e.stderr.join('').trim().split('\n').slice(-8).join(' | ');
    throw new Error(`${e.label} ended unexpectedly (exit ${code ?? e.proc.signalCode})${tail ? `: ${tail}` : ''}`);
  }
  const msg = JSON.parse(next.value) as Record<string, unknown>;
  if (msg.error) throw new Error(`${e.label}: ${String(msg.error)}`);
  return msg;
}

async function start(label: string, backend: string, threads: number, cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Engine> {
  const proc = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  proc.stdin.on('error', () => {}); // a child that died is reported through its stdout ending, with its stderr
  const stderr: string[] = [];
  proc.stderr.on('data', (b: Buffer) => stderr.push(b.toString()));
  const lines = readline.createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
  const e = { label, backend, threads, proc, lines, stderr, steps: [] } as unknown as Engine;
  const first = await lines.next();
  if (first.done) throw new Error(`${label} could not start:\n${stderr.join('').trim().split('\n').slice(-15).join('\n')}`);
  e.ready = JSON.parse(first.value) as Engine['ready'];
  return e;
}

/** --python, else the repository's .venv (PyTorch 2.13, scripts/setup-python.sh), else a python3 that imports torch. */
function torchPython(): string {
  if (a.python) return a.python;
  const candidates = [path.join(ROOT, '.venv', 'bin', 'python'), '/usr/bin/python3', 'python3'];
  const found = candidates.find((p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
  if (!found) throw new Error(`no Python here imports torch (tried ${candidates.join(', ')}); run bash scripts/setup.sh, or name one with --python`);
  return found;
}

function threadList(s: string): number[] {
  const list = [...new Set(s.split(',').map((x) => Number(x.trim())))];
  if (!list.length || list.some((t) => !Number.isInteger(t) || t < 1)) throw new Error(`--threads must be positive integers (e.g. 1,2), got "${s}".`);
  return list;
}

function rowOf(e: Engine, spec: Spec, runs: number): Record<string, unknown> {
  const timed = e.steps.slice(-runs);
  const ms = median(timed.map((s) => s.ms));
  const tokens = spec.batch * (spec.promptLength + spec.seq);
  const first = e.steps[0];
  const last = e.steps[e.steps.length - 1];
  return {
    workload: spec.workload, backend: e.backend, device: e.ready.device, threads: e.ready.threads,
    ms_per_step: ms, min_ms: Math.min(...timed.map((s) => s.ms)), max_ms: Math.max(...timed.map((s) => s.ms)), runs: timed.length,
    tokens_per_s: tokens / (ms / 1000),
    // CPU time of all the engine's threads per step: on an idle machine wall ≈ this / threads for a perfect split,
    // so it shows what a busy machine's wall times cannot.
    cpu_ms_per_step: median(timed.map((s) => s.cpu_ms)),
    peak_rss_mb: Math.max(...e.steps.map((s) => s.peak_rss_mb)),
    // Growth from the first timed step to the last (after warm-up, the heap should stay where it is).
    rss_first_mb: timed[0].rss_mb, rss_last_mb: last.rss_mb, rss_growth_mb: last.rss_mb - timed[0].rss_mb,
    ...(first.tensors !== undefined ? { tensors_growth: (last.tensors ?? 0) - (timed[0].tensors ?? 0) } : {}),
    ...(last.wasm_heap_mb !== undefined ? { wasm_heap_mb: last.wasm_heap_mb, wasm_heap_growth_mb: last.wasm_heap_mb - (timed[0].wasm_heap_mb ?? 0) } : {}),
    ...(last.js_heap_mb !== undefined ? { js_heap_growth_mb: last.js_heap_mb - (timed[0].js_heap_mb ?? 0) } : {}),
    first_loss: first.loss,
    ...(last.gpu ? { gpu: gpuRow(timed) } : {}),
  };
}

/** Per timed step on webgpu: medians of the transfers and launches, pipelines compiled while timed (want 0), peak GPU memory. */
function gpuRow(timed: Engine['steps']) {
  const g = timed.map((s) => s.gpu!);
  return {
    readbacks_per_step: median(g.map((x) => x.readbacks)), uploads_per_step: median(g.map((x) => x.uploads)),
    upload_bytes_per_step: median(g.map((x) => x.upload_bytes)), dispatches_per_step: median(g.map((x) => x.dispatches)),
    pipelines_compiled_while_timed: g.reduce((n, x) => n + x.pipelines, 0), peak_gpu_mb: Math.max(...g.map((x) => x.gpu_mb)),
  };
}

async function orchestrate(workload: string): Promise<void> {
  const threads = threadList(a.threads!);
  const runs = Number(a.runs);
  const warmup = Number(a.warmup);
  const backends = a.backends!.split(',').map((b) => b.trim()).filter(Boolean);
  for (const b of backends) if (!isBackendName(b) || b === 'auto') throw new Error(`--backends: "${b}" is not a backend (tensorflow-gpu, webgpu, tensorflow, wasm, cpu).`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ulpt-bench-'));
  const engines: Engine[] = [];
  const skipped: Record<string, unknown>[] = [];
  const load0 = os.loadavg()[0];
  try {
    const spec = makeSpec(workload, tmp);
    const specFile = path.join(tmp, 'spec.json');
    fs.writeFileSync(specFile, JSON.stringify(spec));
    // Engines load one at a time (loading is not what is measured, and W2's weights are large).
    const engineNames = a.engines!.split(',').map((x) => x.trim()).filter(Boolean);
    for (const n of engineNames) if (n !== 'builtin' && n !== 'torch') throw new Error(`--engines: "${n}" is not an engine (builtin, torch).`);
    for (const backend of engineNames.includes('builtin') ? backends : []) {
      // As training chooses (chooseThreads): the GPU and native backends spread one step over the device themselves
      // and get one thread, whatever --threads says; nor does any backend get more threads than examples.
      const counts = [...new Set(threads.map((t) => chooseThreads(t, backend as ConcreteBackend, spec.batch, () => 0).threads))];
      for (const t of counts) {
        const label = `${backend} ×${t}`;
        try {
          engines.push(await start(label, backend, t, process.execPath, [__filename, '--serve', '--spec', specFile, '--backend', backend, '--threads', String(t)], process.env));
        } catch (e) {
          skipped.push({ workload: spec.workload, backend, threads: t, skipped: (e as Error).message });
        }
      }
    }
    if (a['compare-torch']) {
      // On CUDA the step runs on the GPU; PyTorch gets one CPU thread, as the GPU backends here do.
      for (const t of a['torch-device'] === 'cuda' ? [1] : threads) {
        const env = { ...process.env, OMP_NUM_THREADS: String(t), OPENBLAS_NUM_THREADS: String(t) };
        const args = [path.join(ROOT, 'scripts', 'bench_torch.py'), '--serve', '--spec', specFile, '--threads', String(t), '--device', a['torch-device']!];
        try {
          engines.push(await start(`pytorch ×${t}`, 'pytorch', t, torchPython(), args, env));
        } catch (e) {
          skipped.push({ workload: spec.workload, backend: 'pytorch', threads: t, skipped: (e as Error).message });
        }
      }
    }
    if (engineNames.includes('torch')) {
      // The PyTorch engine's own step (python/ulpt_torch) and plain PyTorch with the same transformers model, same
      // numbers, thread for thread: the engine's overhead is the difference.
      const python = torchPython();
      for (const t of a['torch-device'] === 'cuda' ? [1] : threads) {
        const env = { ...process.env, OMP_NUM_THREADS: String(t), OPENBLAS_NUM_THREADS: String(t), PYTHONPATH: path.join(ROOT, 'python') };
        for (const [label, flag] of [['torch-engine', '--engine'], ['transformers', '--plain']] as const) {
          const args = [path.join(ROOT, 'scripts', 'bench_torch_engine.py'), flag, '--spec', specFile, '--threads', String(t), '--device', a['torch-device']!];
          try {
            engines.push(await start(`${label} ×${t}`, label, t, python, args, env));
          } catch (e) {
            skipped.push({ workload: spec.workload, backend: label, threads: t, skipped: (e as Error).message });
          }
        }
      }
    }
    // Interleaved: every round steps each engine once, starting one further along each time.
    for (let r = 0; r < warmup + runs; r++) {
      const live = engines.filter((e) => !e.failed);
      for (let i = 0; i < live.length; i++) {
        const e = live[(i + r) % live.length];
        try {
          e.steps.push((await ask(e, 'step')) as unknown as Engine['steps'][number]);
        } catch (err) {
          e.failed = (err as Error).message;
          skipped.push({ workload: spec.workload, backend: e.backend, threads: e.threads, skipped: e.failed });
        }
      }
      if (!a.json && process.stderr.isTTY) process.stderr.write(`\rround ${r + 1}/${warmup + runs}`);
    }
    if (!a.json && process.stderr.isTTY) process.stderr.write('\n');
    if (a.profile) for (const e of engines) if (!['pytorch', 'torch-engine', 'transformers'].includes(e.backend) && !e.failed) e.profile = (await ask(e, 'profile')) as unknown as Engine['profile'];
    const machine = { cpu: os.cpus()[0]?.model ?? 'unknown CPU', cores: os.cpus().length, node: process.version, loadavg_start: load0, loadavg_end: os.loadavg()[0], date: new Date().toISOString() };
    const rows: Record<string, unknown>[] = engines.filter((e) => !e.failed).map((e) => ({ ...rowOf(e, spec, runs), ...(e.profile ? { profile: e.profile } : {}), machine }));
    for (const row of rows) {
      const torch = rows.find((x) => x.backend === 'pytorch' && x.threads === row.threads);
      const one = rows.find((x) => x.backend === row.backend && x.threads === 1);
      if (torch && row.backend !== 'pytorch') {
        // Wall-clock ratio, and the ratio of CPU time (all threads): on a busy machine the second is the steadier.
        Object.assign(row, { vs_pytorch: (row.ms_per_step as number) / (torch.ms_per_step as number), cpu_vs_pytorch: (row.cpu_ms_per_step as number) / (torch.cpu_ms_per_step as number) });
      }
      if (one && row.threads !== 1) Object.assign(row, { speedup_vs_1_thread: (one.ms_per_step as number) / (row.ms_per_step as number) });
      const plain = row.backend === 'torch-engine' ? rows.find((x) => x.backend === 'transformers' && x.threads === row.threads) : undefined;
      if (plain) {
        Object.assign(row, {
          overhead_vs_plain_pytorch: (row.ms_per_step as number) / (plain.ms_per_step as number) - 1,
          cpu_overhead_vs_plain_pytorch: (row.cpu_ms_per_step as number) / (plain.cpu_ms_per_step as number) - 1,
        });
      }
    }
    if (a.json) {
      for (const row of [...rows, ...skipped]) console.log(JSON.stringify(row));
    } else {
      printTable(spec, rows, skipped, machine, runs);
    }
  } finally {
    for (const e of engines) {
      e.proc.stdin.end('quit\n');
    }
    await Promise.all(engines.map((e) => new Promise((r) => (e.proc.exitCode !== null ? r(null) : e.proc.on('exit', r)))));
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function printTable(spec: Spec, rows: Record<string, unknown>[], skipped: Record<string, unknown>[], machine: Record<string, unknown>, runs: number): void {
  const f = (x: unknown, digits = 1) => (typeof x === 'number' ? x.toFixed(digits) : '');
  console.log(`ULPT training step (forward + backward + AdamW), workload ${spec.workload}: batch ${spec.batch} × (${spec.promptLength} virtual + ${spec.seq}) tokens, ${spec.targets} targets each, r=${spec.rank}; median of ${runs}, interleaved`);
  console.log(`machine: ${String(machine.cpu)}, ${String(machine.cores)} cores, Node ${String(machine.node)}, load average ${f(machine.loadavg_start, 2)} → ${f(machine.loadavg_end, 2)}`);
  console.log('backend    threads  ms/step   min ms   CPU ms  tokens/s  peak RSS MB  RSS growth  first loss  vs PyTorch (CPU)  vs 1 thread  device');
  for (const r of rows) {
    console.log(
      `${String(r.backend).padEnd(10)} ${String(r.threads).padStart(7)} ${f(r.ms_per_step).padStart(8)} ${f(r.min_ms).padStart(8)} ${f(r.cpu_ms_per_step).padStart(8)} ${Math.round(r.tokens_per_s as number).toString().padStart(9)} ` +
        `${f(r.peak_rss_mb, 0).padStart(12)} ${f(r.rss_growth_mb).padStart(11)} ${f(r.first_loss, 5).padStart(11)} ${(r.vs_pytorch ? `${f(r.vs_pytorch, 2)}× (${f(r.cpu_vs_pytorch, 2)}×)` : '').padStart(16)} ` +
        `${(r.speedup_vs_1_thread ? f(r.speedup_vs_1_thread, 2) + '×' : '').padStart(12)}  ${String(r.device)}`,
    );
  }
  for (const s of skipped) console.log(`${String(s.backend).padEnd(10)} ${String(s.threads).padStart(7)}  skipped: ${String(s.skipped).split('\n')[0]}`);
  for (const r of rows.filter((x) => x.overhead_vs_plain_pytorch !== undefined)) {
    const pct = (x: unknown) => `${(x as number) >= 0 ? '+' : ''}${(100 * (x as number)).toFixed(1)} %`;
    console.log(`torch engine ×${String(r.threads)}: ${pct(r.overhead_vs_plain_pytorch)} over plain PyTorch with the same transformers model (CPU time ${pct(r.cpu_overhead_vs_plain_pytorch)})`);
  }
  for (const r of rows) {
    const p = r.profile as Engine['profile'];
    if (!p) continue;
    console.log(`\nper-kernel profile, ${String(r.backend)} ×${String(r.threads)} (this thread's share), median of 5 profiled steps: ${f(p.wall_ms)} ms wall, ${f(p.kernel_ms)} ms in ${p.kernel_calls} kernel calls`);
    for (const k of p.kernels.slice(0, 25)) console.log(`  ${k.name.padEnd(28)} ${String(k.calls).padStart(6)} calls ${f(k.ms).padStart(9)} ms ${f((100 * k.ms) / p.kernel_ms).padStart(6)} %`);
    console.log('  by input shapes:');
    for (const k of p.sites.slice(0, 15)) console.log(`  ${f(k.ms).padStart(9)} ms ${String(k.calls).padStart(5)} × ${k.name}`);
  }
}

const HELP = `node out/bench.js --workload w1|w2|example[,…] [--backends wasm,cpu] [--threads 1,2] [--compare-torch]
                  [--runs 10] [--warmup 2] [--profile] [--torch-device cpu|cuda] [--python PATH] [--json]

  --workload   w1: GPT-2 arch, d 256, 4 layers, 4 heads, vocab 8192; batch 8 × 128 tokens, 16 targets; n 16, r 2
               w2: GPT-2 small (d 768, 12 layers, vocab 50257); batch 16 × 256, 16 targets; n 100, r 2
               example (default): examples/workspace/model; batch 16 × 24, 2 targets; n 10, r 2
  --threads    thread counts to measure, comma-separated (default: the cores available)
  --compare-torch   also PyTorch (scripts/bench_torch.py) with the same thread counts (one on --torch-device cuda)
  --engines    builtin (default: the tfjs backends), torch (the PyTorch engine's step, python/ulpt_torch, beside plain
               PyTorch with the same transformers model: scripts/bench_torch_engine.py), or both: builtin,torch
  --python     the Python that has torch (default: the repository's .venv, else /usr/bin/python3 or python3, the first that imports it)
  --profile    time per kernel of one step (tf.profile) for each tfjs engine
  --json       one JSON object per engine per line`;

if (a.help) {
  console.log(HELP);
} else {
  const all = async () => {
    // Several workloads (--workload w1,example) run one after another in the same command.
    const list = a.workload!.split(',').map((w) => w.trim()).filter(Boolean);
    for (const w of list) if (!WORKLOADS[w]) throw new Error(`--workload must be one or more of ${Object.keys(WORKLOADS).join(', ')}, got "${w}".`);
    for (const [i, w] of list.entries()) {
      if (i && !a.json) console.log('');
      await orchestrate(w);
    }
  };
  (a.serve ? serveTfjs() : all()).catch((e: unknown) => {
    console.error(`bench: ${(e as Error).message}`);
    if (process.env.ULPT_DEBUG) console.error((e as Error).stack);
    process.exit(1);
  });
}
