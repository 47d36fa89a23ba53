// Playground latency: how long after the playground process is started its first answer arrives (backend start,
// model load, the answer with and without the adapter), a warm answer after it, and the inspector's nearest
// vocabulary tokens (k = 5 for each of n = 10 virtual tokens) — median of several cold starts, each a fresh process
// as a freshly opened playground gets.
//
//   npm run bench:playground -- [--model DIR] [--backend wasm] [--runs 5] [--input "a moving film"]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { writeAdapter } from '../src/io/adapter';
import { PlaygroundProcess } from '../src/process/playgroundClient';

const { values: a } = parseArgs({
  options: {
    model: { type: 'string', default: 'examples/workspace/model' }, backend: { type: 'string', default: 'wasm' },
    runs: { type: 'string', default: '5' }, input: { type: 'string', default: 'a wonderful, moving film with a superb cast' },
  },
});
const model = path.resolve(a.model);
const runs = Number(a.runs);
const script = path.resolve(__dirname, '..', 'dist', 'playground.js');
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  if (!fs.existsSync(script)) throw new Error(`${script} is missing: run npm run build first.`);
  const cfg = JSON.parse(fs.readFileSync(path.join(model, 'config.json'), 'utf8')) as { n_embd?: number; hidden_size?: number; model_type: string; vocab_size: number };
  const d = cfg.n_embd ?? cfg.hidden_size ?? 0;
  // The adapter's values do not change the time; its fingerprint must be the model's (asked of a separate process).
  const probe = new PlaygroundProcess({ script, backend: a.backend });
  const fingerprint = (await probe.ask({ type: 'fingerprint', dirs: [model] })).results[0].fingerprint;
  probe.dispose();
  if (!fingerprint) throw new Error(`${model} cannot be loaded.`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ulpt-bench-playground-'));
  const file = path.join(dir, 'bench.ulpt');
  const n = 10;
  writeAdapter(file, {
    meta: {
      format: 'ulpt-adapter', version: 1, method: 'ulpt', num_virtual_tokens: n, rank: 2, hidden_size: d, alignment: true, seed: '42',
      base_model: { model_type: cfg.model_type, name: path.basename(model), fingerprint, vocab_size: cfg.vocab_size },
      task: { type: 'classification', template: 'input: {input} output:', input_field: 'input', target_field: 'label', labels: { names: ['positive', 'negative'], words: [' positive', ' negative'] } },
      training: {}, metrics: {}, trainable_parameters: n * 2 + 2 * d, created: new Date().toISOString(),
    },
    tensors: { z: Float32Array.from({ length: n * 2 }, (_, i) => Math.sin(i)), scale: new Float32Array(d).fill(1), shift: new Float32Array(d) },
  });
  const rows: { ready: number; first: number; warm: number; neighbours: number }[] = [];
  let device = '';
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const p = new PlaygroundProcess({ script, backend: a.backend });
    const b = await p.ready;
    device = `${b.backend} — ${b.device}`;
    const ready = performance.now() - t0;
    await p.ask({ type: 'predict', model, adapter: file, inputs: [a.input] });
    const first = performance.now() - t0;
    const t1 = performance.now();
    await p.ask({ type: 'predict', model, adapter: file, inputs: [a.input] });
    const warm = performance.now() - t1;
    const t2 = performance.now();
    await p.ask({ type: 'neighbours', model, adapter: file, k: 5 });
    const neighbours = performance.now() - t2;
    p.dispose();
    rows.push({ ready, first, warm, neighbours });
    console.log(`run ${i + 1}: backend up ${ready.toFixed(0)} ms, first answer ${first.toFixed(0)} ms, warm answer ${warm.toFixed(0)} ms, nearest tokens ${neighbours.toFixed(0)} ms`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(`\nplayground on ${path.relative(process.cwd(), model) || model} (d=${d}), ${device}`);
  console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`median of ${runs} cold starts: backend up ${median(rows.map((r) => r.ready)).toFixed(0)} ms, first answer (with and without the adapter, model load included) ${median(rows.map((r) => r.first)).toFixed(0)} ms after the process started; warm answer ${median(rows.map((r) => r.warm)).toFixed(0)} ms; nearest tokens (model loaded) ${median(rows.map((r) => r.neighbours)).toFixed(0)} ms`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
