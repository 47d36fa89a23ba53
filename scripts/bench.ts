// Training-step benchmark: one ULPT step (forward, backward, AdamW) on a fixed batch, per backend, with the
// median of several runs, against the JS CPU backend and — when Debian's python3-torch is there — PyTorch doing
// the same step on the same checkpoint (scripts/bench_torch.py).
//
//   npm run bench -- [--model DIR] [--batch 16] [--seq 24] [--prompt-length 10] [--rank 2] [--runs 10] [--backends cpu,wasm,webgpu]
// On webgpu a row also counts, per timed step, the transfers back to the CPU, the uploads, the kernel launches and
// the pipelines compiled, and the most GPU memory the backend held (`gpu`).
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend, tf, type ConcreteBackend, type Scalar } from '../src/backend';
import { gpuCounters } from '../src/kernels/webgpu/counters';
import { loadModel } from '../src/models/loader';
import { createPrompt } from '../src/ulpt/prompt';
import { SplitMix64 } from '../src/ulpt/projection';
import { collate, type TokenPair } from '../src/train/batch';
import { batchLoss } from '../src/train/objective';
import { AdamW, ADAMW_DEFAULTS } from '../src/train/optimizer';

const { values: a } = parseArgs({
  options: {
    model: { type: 'string', default: 'examples/workspace/model' }, batch: { type: 'string', default: '16' }, seq: { type: 'string', default: '24' },
    'prompt-length': { type: 'string', default: '10' }, rank: { type: 'string', default: '2' }, runs: { type: 'string', default: '10' },
    backends: { type: 'string', default: 'cpu,wasm,tensorflow' }, json: { type: 'boolean', default: false },
  },
});
const B = Number(a.batch), S = Number(a.seq), n = Number(a['prompt-length']), r = Number(a.rank), runs = Number(a.runs);
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

/** The same batch everywhere: seeded token ids, the last 2 tokens of each sequence are targets. */
function fixedBatch(vocab: number): TokenPair[] {
  const rng = new SplitMix64(1234n);
  return Array.from({ length: B }, () => {
    const ids = Array.from({ length: S }, () => Math.floor(rng.nextUnit() * (vocab - 1)));
    return { inputIds: ids.slice(0, S - 2), targetIds: ids.slice(S - 2) };
  });
}

interface GpuRow { readbacksPerStep: number; uploadsPerStep: number; uploadBytesPerStep: number; dispatchesPerStep: number; pipelinesCompiledWhileTimed: number; peakGpuMemoryMb: number }
interface Row { backend: string; device: string; medianMs: number; minMs: number; tokensPerSecond: number; gpu?: GpuRow }

async function benchBackend(name: ConcreteBackend): Promise<Row | { backend: string; skipped: string }> {
  let report;
  try {
    report = await initBackend(name);
  } catch (e) {
    return { backend: name, skipped: (e as Error).message };
  }
  const model = await loadModel(path.resolve(a.model!));
  const prompt = await createPrompt({ method: 'ulpt', length: n, rank: r, hidden: model.info.hiddenSize, seed: 42n, alignment: true }, model.tokenEmbeddings);
  const opt = new AdamW(prompt.variables, ADAMW_DEFAULTS);
  const batch = collate(fixedBatch(model.info.vocabSize), model.tokenizer.padId, n);
  const vars = [...prompt.variables.values()];
  const step = async () => {
    const t0 = performance.now();
    const { value, grads } = tf.variableGrads(() => batchLoss(model, prompt, batch, batch.targets.length) as Scalar, vars);
    const g = new Map([...prompt.variables].map(([k, v]) => [k, grads[v.name]]));
    opt.step(g, 1e-3);
    await value.data();
    tf.dispose([value, ...Object.values(grads)]);
    return performance.now() - t0;
  };
  for (let i = 0; i < 2; i++) await step();
  const times: number[] = [];
  const c0 = name === 'webgpu' ? gpuCounters() : null;
  let peakGpu = 0;
  for (let i = 0; i < runs; i++) {
    times.push(await step());
    peakGpu = Math.max(peakGpu, (tf.memory() as { numBytesAllocatedInGPU?: number }).numBytesAllocatedInGPU ?? 0);
  }
  const c1 = c0 ? gpuCounters()! : null;
  const gpu: GpuRow | undefined = c0 && c1 ? {
    readbacksPerStep: (c1.readbacks - c0.readbacks) / runs, uploadsPerStep: (c1.uploads - c0.uploads) / runs,
    uploadBytesPerStep: (c1.uploadBytes - c0.uploadBytes) / runs, dispatchesPerStep: (c1.dispatches - c0.dispatches) / runs,
    pipelinesCompiledWhileTimed: c1.pipelines - c0.pipelines, peakGpuMemoryMb: peakGpu / 2 ** 20,
  } : undefined;
  opt.dispose();
  prompt.dispose();
  model.dispose();
  const med = median(times);
  return { backend: name, device: report.device, medianMs: med, minMs: Math.min(...times), tokensPerSecond: (B * (n + S)) / (med / 1000), ...(gpu ? { gpu } : {}) };
}

function torchPeer(): Row | { backend: string; skipped: string } {
  const py = '/usr/bin/python3';
  const res = spawnSync(py, [path.join('scripts', 'bench_torch.py'), '--model', a.model!, '--batch', String(B), '--seq', String(S), '--prompt-length', String(n), '--rank', String(r), '--runs', String(runs)], { encoding: 'utf8' });
  if (res.status !== 0) return { backend: 'pytorch', skipped: (res.stderr || res.error?.message || 'failed').trim().split('\n').at(-1)! };
  return JSON.parse(res.stdout.trim().split('\n').at(-1)!) as Row;
}

async function main() {
  const rows: (Row | { backend: string; skipped: string })[] = [];
  for (const b of a.backends!.split(',') as ConcreteBackend[]) rows.push(await benchBackend(b));
  rows.push(torchPeer());
  const machine = `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, Node ${process.version}`;
  if (a.json) return console.log(JSON.stringify({ machine, batch: B, seq: S, promptLength: n, rank: r, runs, rows }));
  const ref = rows.find((x): x is Row => 'medianMs' in x && x.backend === 'cpu');
  console.log(`ULPT training step (forward + backward + AdamW), ${a.model}, batch ${B} × (${n} virtual + ${S}) tokens, r=${r}, median of ${runs}`);
  console.log(`machine: ${machine}`);
  console.log('backend      median ms/step   min ms   tokens/s   vs cpu   device');
  for (const x of rows) {
    if ('skipped' in x) console.log(`${x.backend.padEnd(12)} skipped: ${x.skipped}`);
    else console.log(`${x.backend.padEnd(12)} ${x.medianMs.toFixed(1).padStart(14)} ${x.minMs.toFixed(1).padStart(8)} ${Math.round(x.tokensPerSecond).toString().padStart(10)} ${ref ? (ref.medianMs / x.medianMs).toFixed(2).padStart(7) + 'x' : ''}   ${x.device}`);
  }
  for (const x of rows) {
    if (!('gpu' in x) || !x.gpu) continue;
    const g = x.gpu;
    console.log(`${x.backend} per step: ${g.readbacksPerStep} reads back, ${g.uploadsPerStep} uploads (${Math.round(g.uploadBytesPerStep)} bytes), ${g.dispatchesPerStep} kernel launches; ${g.pipelinesCompiledWhileTimed} pipelines compiled while timed; peak GPU memory ${g.peakGpuMemoryMb.toFixed(1)} MB`);
  }
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
