// `ulpt sweep` as users run it (the built CLI in dist/): a 2 × 2 grid × 2 seeds of ordinary run folders, a
// results table whose numbers are the runs' own summaries, a sweep killed mid-run that the same command finishes
// without rerunning what was done, and a grid key that is not a config field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { arms, parseGrid, parseGridAxis, parseSeeds } from '../../src/sweep/grid';
import { planSweep, writeSweepFile } from '../../src/sweep/plan';
import { chosenCells, resultsCsv, resultsMarkdown, sweepResults } from '../../src/sweep/results';
import { ConfigError } from '../../src/config';
import type { RunSummary } from '../../src/protocol';
import { ROOT, TINY, tempDir } from './helpers';
import { StandInHub } from '../hubServer';

const CLI = path.join(ROOT, 'dist', 'cli.js');
const WORDS = ['model', 'prompt', 'frozen', 'tokens', 'small', 'learned'];

/** A tiny classification workspace: train and validation files and a config every cell starts from. */
function workspace(steps: number, checkpointEvery: number): string {
  const dir = tempDir('ulpt-sweep-');
  const lines = (n: number, shift: number) => Array.from({ length: n }, (_, i) => {
    const [a, b] = [WORDS[(i + shift) % 6], WORDS[(i * 5 + 1 + shift) % 6]];
    return JSON.stringify({ input: `the ${a} is ${b}`, label: (i + shift) % 3 ? 'yes' : 'no' });
  }).join('\n') + '\n';
  fs.writeFileSync(path.join(dir, 'train.jsonl'), lines(24, 0));
  fs.writeFileSync(path.join(dir, 'valid.jsonl'), lines(10, 7));
  const config = {
    model: TINY, train: 'train.jsonl', validation: 'valid.jsonl', steps, batchSize: 4, maxLength: 16, promptLength: 3,
    evalEvery: 2, checkpointEvery, backend: 'cpu', threads: 1, task: { type: 'classification', template: '{input} ?' },
  };
  fs.writeFileSync(path.join(dir, 'ulpt.config.json'), JSON.stringify(config, null, 2));
  return dir;
}

/**
 * The shipped example's pretrained model on 32 of its sentiment records, for the table test: it learns in a few
 * steps, so its accuracies differ between arms and seeds (the tiny fixture's stay at one value, which would let a
 * wrong mean or std pass). A dev split of 8 records keeps each run to seconds.
 */
function exampleWorkspace(): string {
  const dir = tempDir('ulpt-sweep-');
  const records = fs.readFileSync(path.join(ROOT, 'examples', 'workspace', 'data', 'sentiment-train.jsonl'), 'utf8').split('\n').slice(0, 32);
  fs.writeFileSync(path.join(dir, 'train.jsonl'), records.join('\n') + '\n');
  const config = {
    model: path.join(ROOT, 'examples', 'workspace', 'model'), train: 'train.jsonl', validationSplit: 0.25, steps: 3, batchSize: 4, maxLength: 16,
    promptLength: 4, evalEvery: 3, checkpointEvery: 0, backend: 'cpu', threads: 1,
    task: { type: 'classification', template: 'input: {input} output:', labels: { positive: ' positive', negative: ' negative' } },
  };
  fs.writeFileSync(path.join(dir, 'ulpt.config.json'), JSON.stringify(config, null, 2));
  return dir;
}

const GRID = ['--grid', 'rank=1,3', '--grid', 'lr=0.03,0.3', '--seeds', '2'];

function sweep(dir: string, extra: string[] = []) {
  const r = spawnSync(process.execPath, [CLI, 'sweep', '--config', 'ulpt.config.json', ...GRID, '--json', ...extra], { cwd: dir, encoding: 'utf8' });
  const lines = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code: r.status, stderr: r.stderr, lines, events: lines.filter((l) => String(l.type).startsWith('sweep-')) };
}

function sweepFolder(dir: string): string {
  const root = path.join(dir, '.ulpt', 'sweeps');
  const [name] = fs.readdirSync(root);
  return path.join(root, name);
}

interface SweepJson { cells: { id: string; arm: Record<string, unknown>; seed: string; runDir: string }[] }

function readCells(folder: string) {
  const file = JSON.parse(fs.readFileSync(path.join(folder, 'sweep.json'), 'utf8')) as SweepJson;
  return file.cells.map((c) => ({ ...c, runDir: path.resolve(folder, c.runDir) }));
}

const summaryOf = (runDir: string) => JSON.parse(fs.readFileSync(path.join(runDir, 'summary.json'), 'utf8')) as RunSummary;

/** results.csv as objects (no field of this test holds a comma). */
function readCsv(file: string): Record<string, string>[] {
  const [head, ...rows] = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => l.split(','));
  return rows.map((r) => Object.fromEntries(head.map((h, i) => [h, r[i]])));
}

test('a 2 × 2 sweep over 2 seeds writes 8 ordinary run folders and a table of their summaries', () => {
  const dir = exampleWorkspace();
  const r = sweep(dir);
  assert.equal(r.code, 0, r.stderr);
  const folder = sweepFolder(dir);
  const cells = readCells(folder);
  assert.equal(cells.length, 8);
  assert.deepEqual(new Set(cells.map((c) => `${String(c.arm.rank)}/${String(c.arm.lr)}/${c.seed}`)).size, 8);
  for (const c of cells) {
    // An ordinary run folder under the workspace's .ulpt/runs, trained with the arm's values and the seed.
    assert.equal(path.dirname(c.runDir), path.join(dir, '.ulpt', 'runs'));
    const config = JSON.parse(fs.readFileSync(path.join(c.runDir, 'config.json'), 'utf8'));
    assert.equal(config.rank, c.arm.rank);
    assert.equal(config.lr, c.arm.lr);
    assert.equal(config.seed, c.seed);
    assert.equal(summaryOf(c.runDir).reason, 'completed');
    assert.ok(fs.existsSync(path.join(c.runDir, 'best.ulpt')));
  }
  const rows = readCsv(path.join(folder, 'results.csv'));
  assert.equal(rows.length, 4);
  const all = cells.map((c) => summaryOf(c.runDir).best!.accuracy);
  assert.ok(new Set(all).size > 2, `the runs' accuracies differ (${all.join(', ')}), so the table's numbers are checked`);
  for (const row of rows) {
    const mine = cells.filter((c) => String(c.arm.rank) === row.rank && String(c.arm.lr) === row.lr);
    const values = mine.map((c) => summaryOf(c.runDir).best!.accuracy);
    const mean = (values[0] + values[1]) / 2;
    const std = Math.abs(values[0] - values[1]) / Math.SQRT2; // the sample std of two values
    assert.equal(row.metric, 'accuracy');
    assert.ok(Math.abs(Number(row.mean) - mean) < 1e-12, `${row.arm}: mean ${row.mean}, summaries ${values}`);
    assert.ok(Math.abs(Number(row.std) - std) < 1e-12, `${row.arm}: std ${row.std}, summaries ${values}`);
    assert.equal(Number(row.trainable_parameters), 4 * Number(row.rank) + 2 * 128);
    assert.equal(row.runs_done, '2');
  }
  const md = fs.readFileSync(path.join(folder, 'results.md'), 'utf8');
  for (const row of rows) assert.ok(md.includes(`| ${row.arm} | 2/2 | ${row.trainable_parameters} | ${(100 * Number(row.mean)).toFixed(1)} ± ${(100 * Number(row.std)).toFixed(1)} |`), md);
  const last = r.lines.at(-1)!;
  assert.equal(last.type, 'sweep-results');
  assert.equal(last.done, 8);
});

/**
 * Kills a sweep (SIGKILL: no chance to clean up) in its third run, after 7 steps; with `checkpointEvery` 5 that
 * run has a checkpoint at step 5, with 0 it has none. Reruns the command and checks what it kept, resumed or redid.
 */
async function killAndRerun(checkpointEvery: number, expected: 'resume' | 'restart'): Promise<void> {
  const dir = workspace(30, checkpointEvery);
  const child = spawn(process.execPath, [CLI, 'sweep', '--config', 'ulpt.config.json', ...GRID, '--json'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const killedAt = await new Promise<string>((resolve, reject) => {
    const timer = setInterval(() => {
      const started = out.split('\n').filter((l) => l.includes('"sweep-cell"')).map((l) => JSON.parse(l) as { index: number; runDir: string });
      const third = started.find((e) => e.index === 3);
      if (!third) return;
      const metrics = path.join(third.runDir, 'metrics.jsonl');
      const steps = fs.existsSync(metrics) ? fs.readFileSync(metrics, 'utf8').split('\n').filter((l) => l.includes('"train"')).length : 0;
      if (steps >= 7) {
        clearInterval(timer);
        child.kill('SIGKILL');
        resolve(third.runDir);
      }
    }, 10);
    child.on('exit', () => {
      clearInterval(timer);
      reject(new Error(`the sweep ended before it could be killed:\n${out.slice(-2000)}`));
    });
  });
  await new Promise((r) => child.on('close', r));
  const folder = sweepFolder(dir);
  const cells = readCells(folder);
  const [first, second] = cells;
  assert.equal(killedAt, cells[2].runDir);
  assert.ok(!fs.existsSync(path.join(killedAt, 'summary.json')), 'the third run was cut before it finished');
  const before = [first, second].map((c) => ({ summary: fs.readFileSync(path.join(c.runDir, 'summary.json'), 'utf8'), mtime: fs.statSync(path.join(c.runDir, 'metrics.jsonl')).mtimeMs }));

  const r = sweep(dir);
  assert.equal(r.code, 0, r.stderr);
  const actions = r.events.filter((e) => e.type === 'sweep-cell').map((e) => e.action);
  assert.deepEqual(actions.slice(0, 3), ['kept', 'kept', expected]);
  assert.deepEqual(actions.slice(3), ['start', 'start', 'start', 'start', 'start']);
  [first, second].forEach((c, i) => {
    assert.equal(fs.readFileSync(path.join(c.runDir, 'summary.json'), 'utf8'), before[i].summary, 'a finished run is not rerun');
    assert.equal(fs.statSync(path.join(c.runDir, 'metrics.jsonl')).mtimeMs, before[i].mtime);
  });
  const resumed = summaryOf(killedAt);
  assert.equal(resumed.reason, 'completed');
  assert.equal(resumed.steps, 30);
  const steps = fs.readFileSync(path.join(killedAt, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"train"')).map((l) => JSON.parse(l).step as number);
  assert.deepEqual(steps, Array.from({ length: 30 }, (_, i) => i + 1), 'the resumed run has every step once');
  const rows = readCsv(path.join(folder, 'results.csv'));
  assert.equal(rows.length, 4);
  assert.ok(rows.every((row) => row.runs_done === '2' && row.values.split(';').length === 2), 'the table is complete');
}

test('a sweep killed mid-run is finished by the same command: done runs are kept, the cut one resumes from its checkpoint', () => killAndRerun(5, 'resume'));

test('a run killed before its first checkpoint starts again when the sweep is rerun', () => killAndRerun(0, 'restart'));

test('Ctrl+C stops the current run with a checkpoint (exit 130) and leaves the sweep to resume', async () => {
  const dir = workspace(30, 5);
  const child = spawn(process.execPath, [CLI, 'sweep', '--config', 'ulpt.config.json', ...GRID, '--json'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes('"type":"step"') && !child.killed) child.kill('SIGINT');
  });
  const code = await new Promise<number | null>((r) => child.on('close', r));
  assert.equal(code, 130, out.slice(-1000));
  const stopped = out.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((m) => m.type === 'sweep-stopped');
  assert.ok(stopped, 'the sweep says where it stopped');
  assert.ok(fs.existsSync(path.join(stopped.runDir, 'checkpoint.safetensors')));
  const r = sweep(dir);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.events.find((e) => e.type === 'sweep-cell')!.action, 'resume');
});

test('a grid key that is not a config field is refused, naming it (exit 2, nothing run)', () => {
  const dir = workspace(4, 0);
  const r = spawnSync(process.execPath, [CLI, 'sweep', '--config', 'ulpt.config.json', '--grid', 'rnak=1,2', '--seeds', '2'], { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--grid rnak: "rnak" is not a config field/);
  assert.match(r.stderr, /rank/);
  assert.ok(!fs.existsSync(path.join(dir, '.ulpt')), 'nothing was written');
  assert.throws(() => parseGridAxis('task.tempalte=a,b'), /"task.tempalte" is not a config field/);
  assert.throws(() => parseGridAxis('seed=1,2'), /seeds are given with --seeds/);
  assert.throws(() => parseGridAxis('task.labels=a,b'), /task.labels holds an object/);
  assert.throws(() => parseGridAxis('rank=2,two'), (e: unknown) => e instanceof ConfigError && /"two" is not a whole number/.test(e.message));
});

test('grid values take their field\'s type; prompt-tuning arms ignore ULPT-only keys; seeds count or list', () => {
  assert.deepEqual(parseGridAxis('lr=0.01,0.1'), { key: 'lr', values: [0.01, 0.1] });
  assert.deepEqual(parseGridAxis('alignment=true,false'), { key: 'alignment', values: [true, false] });
  assert.deepEqual(parseGridAxis('task.template={input} =,{input} ->'), { key: 'task.template', values: ['{input} =', '{input} ->'] });
  const a = arms([parseGridAxis('method=prompt-tuning,ulpt'), parseGridAxis('rank=2,64')], 'ulpt');
  assert.deepEqual(a, [{ method: 'prompt-tuning' }, { method: 'ulpt', rank: 2 }, { method: 'ulpt', rank: 64 }]);
  assert.deepEqual(parseSeeds('3'), ['1', '2', '3']);
  assert.deepEqual(parseSeeds('7, 11'), ['7', '11']);
  assert.deepEqual(parseSeeds('42,'), ['42']);
  assert.throws(() => parseSeeds('1,1'), /seed 1 is given twice/);
});

/** A planned sweep whose run folders hold summaries with the given best values (no training: the table's arithmetic). */
function fakeSweep(grid: string[], pick: boolean, best: (arm: Record<string, unknown>, seed: string) => number) {
  const ws = tempDir('ulpt-sweep-table-');
  fs.writeFileSync(path.join(ws, 'train.jsonl'), '{"input":"a","label":"x"}\n');
  fs.writeFileSync(path.join(ws, 'valid.jsonl'), '{"input":"a","label":"x"}\n');
  fs.writeFileSync(path.join(ws, 'ulpt.config.json'), JSON.stringify({ model: TINY, train: 'train.jsonl', validation: 'valid.jsonl', promptLength: 10, task: { type: 'classification' } }));
  const plan = planSweep({ configFile: path.join(ws, 'ulpt.config.json'), grid: parseGrid(grid), seeds: ['1', '2', '3'], overrides: {}, pick: pick ? { key: 'lr', devSplit: 0.2 } : null });
  writeSweepFile(plan.dir, plan.file);
  for (const cell of plan.file.cells) {
    const runDir = path.resolve(plan.dir, cell.runDir);
    fs.mkdirSync(runDir, { recursive: true });
    const value = best(cell.arm, cell.seed);
    const params = cell.arm.method === 'prompt-tuning' ? 10 * 32 : 10 * Number(cell.arm.rank ?? 2) + 64;
    fs.writeFileSync(path.join(runDir, 'metrics.jsonl'), JSON.stringify({ type: 'eval', step: 5, loss: 1, metrics: { accuracy: value }, metric: 'accuracy', value, best: true }) + '\n');
    const summary: RunSummary = { runDir, steps: 5, reason: 'completed', adapter: null, bestStep: 5, best: { loss: 1, accuracy: value, macro_f1: 0 }, metric: 'accuracy', baseline: null, final: { loss: 1 }, trainableParameters: params, seconds: 1, backend: 'cpu', device: 'cpu' };
    fs.writeFileSync(path.join(runDir, 'summary.json'), JSON.stringify(summary));
  }
  return plan;
}

test('the table: mean ± sample std per arm, trainable parameters, % of the matching vanilla arm', () => {
  const values: Record<string, number[]> = { 'prompt-tuning': [0.8, 0.9, 1.0], '2': [0.7, 0.8, 0.75], '64': [0.9, 0.9, 0.9] };
  const plan = fakeSweep(['method=prompt-tuning,ulpt', 'rank=2,64'], false, (arm, seed) => values[arm.method === 'prompt-tuning' ? 'prompt-tuning' : String(arm.rank)][Number(seed) - 1]);
  const r = sweepResults(plan.dir, plan.file);
  assert.deepEqual(r.rows.map((row) => row.label), ['method=prompt-tuning', 'method=ulpt rank=2', 'method=ulpt rank=64']);
  const [vanilla, r2, r64] = r.rows;
  assert.ok(Math.abs(vanilla.mean! - 0.9) < 1e-12 && Math.abs(vanilla.std! - 0.1) < 1e-12);
  assert.ok(Math.abs(r2.mean! - 0.75) < 1e-12 && Math.abs(r2.std! - 0.05) < 1e-12);
  assert.equal(r64.std, 0);
  assert.deepEqual([vanilla.trainableParameters, r2.trainableParameters, r64.trainableParameters], [320, 84, 704]);
  assert.equal(vanilla.ofVanilla, null);
  assert.ok(Math.abs(r2.ofVanilla! - (100 * 0.75) / 0.9) < 1e-9);
  assert.ok(Math.abs(r64.ofVanilla! - 100) < 1e-9);
  const md = resultsMarkdown(r, plan.file, path.dirname(plan.file.configFile));
  assert.ok(md.includes('| method=ulpt rank=2 | 3/3 | 84 | 75.0 ± 5.0 | 83.3 % |'), md);
});

test('--pick lr reports, per arm, the held-out scores of the lr with the best mean dev value', () => {
  // Dev values: lr 0.1 is best for ULPT (mean 0.85 vs 0.8), lr 0.01 for vanilla (0.9 vs 0.6).
  const dev = (arm: Record<string, unknown>, seed: string) => (arm.method === 'ulpt' ? (arm.lr === 0.1 ? 0.85 : 0.8) : arm.lr === 0.01 ? 0.9 : 0.6) + (Number(seed) - 2) * 0.01;
  const plan = fakeSweep(['method=prompt-tuning,ulpt', 'lr=0.01,0.1'], true, dev);
  const chosen = chosenCells(plan.dir, plan.file).map((c) => `${String(c.cell.arm.method)}@${String(c.cell.arm.lr)}`);
  assert.deepEqual(chosen, ['prompt-tuning@0.01', 'prompt-tuning@0.01', 'prompt-tuning@0.01', 'ulpt@0.1', 'ulpt@0.1', 'ulpt@0.1']);
  const held = new Map(plan.file.cells.map((c) => [c.id, c.arm.method === 'ulpt' ? 0.6 + Number(c.seed) / 100 : 0.7] as const));
  const r = sweepResults(plan.dir, plan.file, { scores: held, baseline: 0.5 });
  const [vanilla, ulpt] = r.rows;
  assert.deepEqual([vanilla.picked?.value, ulpt.picked?.value], [0.01, 0.1]);
  assert.ok(Math.abs(ulpt.picked!.devMean - 0.85) < 1e-12);
  assert.deepEqual(ulpt.values, [0.61, 0.62, 0.63], 'the held-out values of the chosen lr, not the dev values');
  assert.ok(Math.abs(ulpt.ofVanilla! - (100 * 0.62) / 0.7) < 1e-9);
  const csv = resultsCsv(r, plan.file);
  assert.match(csv, /^no prompt \(frozen model\),/m);
  assert.match(csv, /^method=ulpt,ulpt,0\.1,0\.85/m);
});

test('export-job --grid writes a SLURM job array; its tasks train the cells, and sweep --results tables them', { timeout: 300_000 }, () => {
  const dir = workspace(4, 0);
  const out = path.join(dir, 'array');
  const made = spawnSync(process.execPath, [CLI, 'export-job', '--config', 'ulpt.config.json', '--grid', 'rank=1,3', '--seeds', '5,', '--out', out, '--json'], { cwd: dir, encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  assert.equal(JSON.parse(made.stdout).cells, 2);
  const script = fs.readFileSync(path.join(out, 'sweep.sbatch'), 'utf8');
  assert.match(script, /^#SBATCH --array=0-1%8$/m);
  // "The cluster": each array task as SLURM starts it, with the repo's Python.
  for (const task of ['0', '1']) {
    const r = spawnSync('bash', [path.join(out, 'sweep.sbatch')], {
      cwd: dir, encoding: 'utf8', timeout: 240_000,
      env: { ...process.env, SLURM_ARRAY_TASK_ID: task, PYTHON: path.join(ROOT, '.venv', 'bin', 'python'), OMP_NUM_THREADS: '1', PYTHONPATH: '' },
    });
    assert.equal(r.status, 0, `task ${task}:\n${r.stdout}\n${r.stderr}`);
  }
  const cells = readCells(out);
  assert.deepEqual(cells.map((c) => path.relative(out, c.runDir)), [path.join('runs', 'rank-1_s5'), path.join('runs', 'rank-3_s5')]);
  for (const c of cells) {
    assert.equal(summaryOf(c.runDir).engine, 'torch');
    assert.equal(JSON.parse(fs.readFileSync(path.join(c.runDir, 'config.json'), 'utf8')).rank, c.arm.rank);
    assert.ok(fs.existsSync(path.join(out, 'adapters', `${c.id}.ulpt`)));
  }
  const table = spawnSync(process.execPath, [CLI, 'sweep', '--results', out], { cwd: dir, encoding: 'utf8' });
  assert.equal(table.status, 0, table.stderr);
  const rows = readCsv(path.join(out, 'results.csv'));
  assert.deepEqual(rows.map((r) => Number(r.mean)), cells.map((c) => summaryOf(c.runDir).best!.accuracy));
});

test('--engine torch: the same sweep on the PyTorch engine, each cell a torch run, with the built-in sweep\'s table', { timeout: 300_000 }, () => {
  const run = (engine: string, out: string) => spawnSync(process.execPath, [CLI, 'sweep', '--config', 'ulpt.config.json', '--grid', 'rank=1,3', '--seeds', '1', '--engine', engine, '--out', out, '--json'],
    { cwd: dir, encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
  const dir = exampleWorkspace();
  const torch = run('torch', 'sweep-torch');
  assert.equal(torch.status, 0, torch.stderr);
  const builtin = run('builtin', 'sweep-builtin');
  assert.equal(builtin.status, 0, builtin.stderr);
  const cells = readCells(path.join(dir, 'sweep-torch'));
  assert.equal(cells.length, 2);
  for (const c of cells) assert.equal(summaryOf(c.runDir).engine, 'torch', `${c.runDir} was trained by the PyTorch engine`);
  const [t, b] = [readCsv(path.join(dir, 'sweep-torch', 'results.csv')), readCsv(path.join(dir, 'sweep-builtin', 'results.csv'))];
  assert.deepEqual(t.map((r) => [r.arm, r.trainable_parameters, r.mean]), b.map((r) => [r.arm, r.trainable_parameters, r.mean]), 'the same arms and accuracies on either engine');
});

test('--pick scores the held-out file as the runs read their data: an hf:// file fetched from the Hub, the config\'s filter applied', { timeout: 300_000 }, async () => {
  const dir = tempDir('ulpt-sweep-');
  const lines = fs.readFileSync(path.join(ROOT, 'examples', 'workspace', 'data', 'sentiment-train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
  const jsonl = (records: Record<string, string>[]) => records.map((r) => JSON.stringify(r)).join('\n') + '\n';
  fs.writeFileSync(path.join(dir, 'train.jsonl'), jsonl(lines.slice(0, 32).map((r) => ({ ...r, subset: 'a' }))));
  // Subset b's label is not one of the task's: scoring it would fail, so a table means the filter was applied.
  const heldOut = jsonl([...lines.slice(32, 48).map((r) => ({ ...r, subset: 'a' })), ...lines.slice(48, 52).map((r) => ({ ...r, label: 'neutral', subset: 'b' }))]);
  const hub = await new StandInHub([{ type: 'dataset', id: 'ulpt-test/heldout', revisions: { main: { 'valid.jsonl': Buffer.from(heldOut) } } }]).start(280_000);
  const cache = path.join(dir, 'hf-cache');
  try {
    fs.writeFileSync(path.join(dir, 'ulpt.config.json'), JSON.stringify({
      model: path.join(ROOT, 'examples', 'workspace', 'model'), train: 'train.jsonl', validation: 'hf://datasets/ulpt-test/heldout/valid.jsonl', filter: { subset: 'a' },
      steps: 3, batchSize: 4, maxLength: 16, promptLength: 4, evalEvery: 3, checkpointEvery: 0, backend: 'cpu', threads: 1,
      task: { type: 'classification', template: 'input: {input} output:', labels: { positive: ' positive', negative: ' negative' } },
    }));
    // Asynchronously: the stand-in Hub answers from this process.
    const child = spawn(process.execPath, [CLI, 'sweep', '--config', 'ulpt.config.json', '--grid', 'lr=0.03,0.3', '--seeds', '1', '--pick', 'lr', '--out', 'sw', '--json'],
      { cwd: dir, env: { ...process.env, HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cache, HF_HOME: path.join(cache, 'home') } });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    assert.equal(code, 0, stderr);
    const held = JSON.parse(fs.readFileSync(path.join(dir, 'sw', 'heldout.json'), 'utf8'));
    assert.equal(held.test, 'hf://datasets/ulpt-test/heldout/valid.jsonl', 'keyed by the file as the config names it');
    assert.equal(Object.keys(held.scores).length, 1, 'the chosen run of the one arm');
    assert.equal(typeof held.baseline.accuracy, 'number');
    const [row] = readCsv(path.join(dir, 'sw', 'results.csv')).filter((r) => r.arm !== 'no prompt (frozen model)');
    assert.equal(Number(row.mean), (Object.values(held.scores)[0] as { metrics: { accuracy: number } }).metrics.accuracy);
  } finally {
    await hub.stop();
  }
});
