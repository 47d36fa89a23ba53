// The paper's central claim at small scale: ULPT r=2 keeps ≥ 97 % of vanilla prompt tuning's accuracy with a
// few percent of its parameters, and r=64 matches it. Identical n and steps for every method, a learning-rate
// grid per method chosen on a dev split carved from the training file, 3 seeds, accuracy on the held-out file.
//
//   npm run experiment -- [--config examples/workspace/ulpt.config.json] [--steps 300] [--seeds 1,2,3] [--quick]
//
// Writes docs/experiment.json, docs/experiment.svg and the table between the experiment markers in README.md.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/backend';
import { defaultMaxLength, resolveConfig, type TrainConfig } from '../src/config';
import { readRecords, buildExamples, resolveLabels } from '../src/data';
import { loadModel } from '../src/models/loader';
import { train } from '../src/train/trainer';
import { evaluate, labelSetFor, primaryMetric } from '../src/train/evaluate';
import { readAdapter } from '../src/io/adapter';
import { promptFromAdapter } from '../src/ulpt/prompt';

const { values: a } = parseArgs({
  options: {
    config: { type: 'string', default: 'examples/workspace/ulpt.config.json' }, steps: { type: 'string' }, seeds: { type: 'string', default: '1,2,3' },
    'prompt-length': { type: 'string' }, backend: { type: 'string', default: 'auto' }, quick: { type: 'boolean', default: false },
    out: { type: 'string', default: 'docs' }, readme: { type: 'string', default: 'README.md' },
    'scale-init': { type: 'string', default: 'one' }, arms: { type: 'string' }, 'report-only': { type: 'boolean', default: false },
  },
});

interface Arm { name: string; method: TrainConfig['method']; rank: number; alignment: boolean; lrs: number[] }
const ARMS: Arm[] = [
  { name: 'vanilla prompt tuning', method: 'prompt-tuning', rank: 0, alignment: false, lrs: [0.01, 0.03, 0.1] },
  { name: 'ULPT r=2', method: 'ulpt', rank: 2, alignment: true, lrs: [0.01, 0.03, 0.1] },
  { name: 'ULPT r=16', method: 'ulpt', rank: 16, alignment: true, lrs: [0.01, 0.03, 0.1] },
  { name: 'ULPT r=64', method: 'ulpt', rank: 64, alignment: true, lrs: [0.01, 0.03, 0.1] },
  { name: 'ULPT r=2, no scale/shift', method: 'ulpt', rank: 2, alignment: false, lrs: [0.01, 0.03, 0.1] },
];

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const std = (xs: number[]) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((s, x) => s + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));

interface Result { arm: string; params: number; lr: number | null; devMean: number; test: number[]; mean: number; std: number; seconds: number }

async function main() {
  if (a['report-only']) {
    // Rewrite the table and plot from a finished run's docs/experiment.json (no training).
    const saved = JSON.parse(fs.readFileSync(path.join(a.out!, 'experiment.json'), 'utf8'));
    return report(saved.results, saved);
  }
  const backend = await initBackend(a.backend as 'auto');
  const cfgFile = path.resolve(a.config!);
  const base = resolveConfig(JSON.parse(fs.readFileSync(cfgFile, 'utf8')), path.dirname(cfgFile), cfgFile);
  const seeds = a.seeds!.split(',').map((s) => s.trim());
  const steps = Number(a.steps ?? base.steps);
  const n = Number(a['prompt-length'] ?? base.promptLength);
  const testFile = base.validation;
  if (!testFile) throw new Error('The config needs a validation file: it is the held-out test set here.');
  const model = await loadModel(base.model);
  const metric = primaryMetric(base.task.type);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ulpt-exp-'));
  // Dev split from the training file picks the learning rate and the best step; the validation file is only tested on.
  const common = { ...base, scaleInit: a['scale-init'] as TrainConfig['scaleInit'], validation: undefined, validationSplit: 0.2, steps, promptLength: n, evalEvery: Math.max(10, Math.floor(steps / 6)), checkpointEvery: 0, earlyStoppingPatience: 0 };
  const testRecords = await readRecords(testFile);
  const trainRecords = await readRecords(base.train);
  const labels = base.task.type === 'classification' ? resolveLabels(base.task, [...trainRecords, ...testRecords]) : null;
  const testSet = buildExamples(testRecords, base.task, model.tokenizer, base.maxLength ?? defaultMaxLength(model.info.maxPositions, n), labels ?? undefined);
  const labelSet = labelSetFor(labels, model.tokenizer);
  const testScore = async (adapterFile: string | null) => {
    const prompt = adapterFile ? await promptFromAdapter(readAdapter(adapterFile), model.tokenEmbeddings) : null;
    const res = await evaluate(model, prompt, testSet, base.task.type, labelSet, base.batchSize);
    prompt?.dispose();
    return res.metrics[metric];
  };

  const results: Result[] = [];
  const none = await testScore(null);
  results.push({ arm: 'no prompt (frozen model)', params: 0, lr: null, devMean: NaN, test: [none], mean: none, std: 0, seconds: 0 });
  console.log(`${backend.name} (${backend.device}); ${metric} on ${path.basename(testFile)}, n=${n}, ${steps} steps, seeds ${seeds.join(',')}`);
  console.log(`no prompt: ${none.toFixed(4)}`);
  const chosen = a.arms ? ARMS.filter((arm) => a.arms!.split(',').includes(arm.name)) : ARMS;
  const arms = a.quick ? chosen.map((arm) => ({ ...arm, lrs: [arm.lrs[1]] })) : chosen;
  // Every method gets the same grid, so none is favoured by its learning rates.
  for (const arm of arms) {
    const t0 = Date.now();
    let best: { lr: number; dev: number; adapters: string[] } | null = null;
    for (const lr of arm.lrs) {
      const devs: number[] = [];
      const adapters: string[] = [];
      for (const seed of seeds) {
        const out = path.join(work, `${arm.name.replace(/\W+/g, '_')}-${lr}-${seed}.ulpt`);
        const cfg: TrainConfig = { ...common, method: arm.method, rank: Math.max(arm.rank, 1), alignment: arm.alignment, lr, seed, out };
        const s = await train(cfg, { runDir: path.join(work, 'runs', path.basename(out, '.ulpt')), backend, model });
        devs.push(s.best?.[metric] ?? 0);
        adapters.push(out);
      }
      console.log(`  ${arm.name} lr=${lr}: dev ${metric} ${mean(devs).toFixed(4)} (${devs.map((d) => d.toFixed(3)).join(', ')})`);
      if (!best || mean(devs) > best.dev) best = { lr, dev: mean(devs), adapters };
    }
    const test: number[] = [];
    for (const f of best!.adapters) test.push(await testScore(f));
    const params = readAdapter(best!.adapters[0]).meta.trainable_parameters;
    results.push({ arm: arm.name, params, lr: best!.lr, devMean: best!.dev, test, mean: mean(test), std: std(test), seconds: (Date.now() - t0) / 1000 });
    console.log(`${arm.name}: test ${metric} ${mean(test).toFixed(4)} ± ${std(test).toFixed(4)} (lr ${best!.lr}, ${params} params)`);
  }
  model.dispose();
  report(results, { metric, backend: `${backend.name} — ${backend.device}`, steps, n, seeds, config: path.relative(process.cwd(), cfgFile), test: path.relative(process.cwd(), testFile), quick: a.quick! });
}

function report(results: Result[], ctx: { metric: string; backend: string; steps: number; n: number; seeds: string[]; config: string; test: string; quick: boolean }) {
  fs.mkdirSync(a.out!, { recursive: true });
  fs.writeFileSync(path.join(a.out!, 'experiment.json'), JSON.stringify({ ...ctx, date: new Date().toISOString(), machine: `${os.cpus()[0]?.model}, ${os.cpus().length} cores`, results }, null, 2) + '\n');
  fs.writeFileSync(path.join(a.out!, 'experiment.svg'), svg(results, ctx.metric));
  const vanilla = results.find((r) => r.arm === 'vanilla prompt tuning');
  const rows = results.map((r) => {
    const rel = vanilla && r.arm !== vanilla.arm && r.params > 0 ? `${((100 * r.mean) / vanilla.mean).toFixed(1)} %` : '';
    const share = vanilla && r.params > 0 ? `${((100 * r.params) / vanilla.params).toFixed(1)} %` : '';
    return `| ${r.arm} | ${r.params} | ${share} | ${r.lr ?? '–'} | ${(100 * r.mean).toFixed(1)} ± ${(100 * r.std).toFixed(1)} | ${rel} |`;
  });
  const r2 = results.find((r) => r.arm === 'ULPT r=2');
  const r64 = results.find((r) => r.arm === 'ULPT r=64');
  const verdict = vanilla && r2 && r64
    ? `ULPT r=2 reached **${((100 * r2.mean) / vanilla.mean).toFixed(1)} %** of vanilla prompt tuning's ${ctx.metric} (the claim: ≥ 97 %) ` +
      `with ${((100 * r2.params) / vanilla.params).toFixed(1)} % of its trainable parameters; r=64 reached ${((100 * r64.mean) / vanilla.mean).toFixed(1)} %.`
    : '';
  const table = [
    `${ctx.quick ? '**Quick run (one learning rate per method) — not the full experiment.** ' : ''}${ctx.metric} on \`${ctx.test}\` (held out; learning rate and best step chosen on a 20 % dev split of the training file), ` +
      `n = ${ctx.n} virtual tokens, ${ctx.steps} steps, seeds ${ctx.seeds.join(', ')}, mean ± std over seeds; ${ctx.backend}.`,
    '',
    `| method | trainable parameters | vs vanilla | lr (chosen) | ${ctx.metric} % | of vanilla |`,
    '|---|---:|---:|---:|---:|---:|',
    ...rows,
    '',
    verdict,
    '',
    '![accuracy by method](docs/experiment.svg)',
  ].join('\n');
  const readme = a.readme!;
  if (fs.existsSync(readme)) {
    const text = fs.readFileSync(readme, 'utf8');
    const re = /<!-- experiment:start -->[\s\S]*?<!-- experiment:end -->/;
    if (re.test(text)) fs.writeFileSync(readme, text.replace(re, () => `<!-- experiment:start -->\n${table}\n<!-- experiment:end -->`));
  }
  console.log('\n' + table);
}

/** A bar chart with error bars (mean ± std over seeds), in plain SVG. */
function svg(results: Result[], metric: string): string {
  const W = 640, H = 300, left = 200, right = 20, top = 20, rowH = (H - top - 30) / results.length;
  const x = (v: number) => left + v * (W - left - right);
  const bars = results.map((r, i) => {
    const y = top + i * rowH;
    const lo = x(Math.max(0, r.mean - r.std)), hi = x(Math.min(1, r.mean + r.std));
    return `<text x="${left - 8}" y="${y + rowH / 2 + 4}" text-anchor="end" font-size="12">${r.arm}</text>` +
      `<rect x="${left}" y="${y + 4}" width="${x(r.mean) - left}" height="${rowH - 8}" fill="${r.arm.startsWith('ULPT') ? '#3b82f6' : '#9ca3af'}"/>` +
      `<line x1="${lo}" x2="${hi}" y1="${y + rowH / 2}" y2="${y + rowH / 2}" stroke="#111" stroke-width="1.5"/>` +
      `<text x="${x(r.mean) + 6}" y="${y + rowH / 2 + 4}" font-size="11">${(100 * r.mean).toFixed(1)}</text>`;
  });
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((t) => `<line x1="${x(t)}" x2="${x(t)}" y1="${top}" y2="${H - 30}" stroke="#e5e7eb"/><text x="${x(t)}" y="${H - 12}" text-anchor="middle" font-size="11">${t * 100}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>${ticks.join('')}${bars.join('')}<text x="${(left + W - right) / 2}" y="${H - 0}" text-anchor="middle" font-size="11">${metric} (%)</text></svg>\n`;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
