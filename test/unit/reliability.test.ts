// The CLI and trainer used as a careless or hostile user would: nothing the user owns is overwritten, two runs
// never mix, a refused run leaves nothing behind, every problem is named in the user's own words (the flag or
// field they wrote, the file and line), and data that would silently change what is learned is reported.
// Every case runs the built CLI (dist/cli.js) as a user does. ULPT_CLI points the suite at another build.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readAdapter } from '../../src/io/adapter';
import { createFileExclusive } from '../../src/io/atomic';
import { claimRunFolder, diagnoseRun, RunFolderError } from '../../src/train/runFolder';
import { resolveConfig } from '../../src/config';
import { RunManager } from '../../extension/runs/session';
import { editedModel, ROOT, TINY, tempDir } from './helpers';

const CLI = process.env.ULPT_CLI ?? path.join(ROOT, 'dist', 'cli.js');
const EXAMPLE = path.join(ROOT, 'examples', 'workspace');

function ulpt(args: string[], cwd: string) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, all: r.stdout + r.stderr };
}

const GOOD = Array.from({ length: 16 }, (_, i) => JSON.stringify({ input: `word ${i} =`, target: ` ${i % 4}` }));

function writeLines(dir: string, name: string, lines: (string | Buffer)[]): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, Buffer.concat(lines.map((l) => Buffer.concat([typeof l === 'string' ? Buffer.from(l) : l, Buffer.from('\n')]))));
  return file;
}

/** A quick run on the tiny model; `out` and the run folder are given unless the case is about their defaults. */
function tinyArgs(dir: string, extra: string[] = [], opts: { out?: boolean; runDir?: boolean } = {}): string[] {
  return [
    'train', '--model', TINY, '--train', writeLines(dir, 'swap.jsonl', GOOD), '--steps', '2', '--prompt-length', '4', '--max-length', '16',
    '--batch-size', '4', '--backend', 'cpu', ...(opts.out === false ? [] : ['--out', path.join(dir, 'a.ulpt')]),
    ...(opts.runDir === false ? [] : ['--run-dir', path.join(dir, 'run')]), ...extra,
  ];
}

/** Every file under `dir` with its bytes, to prove a refused command changed nothing. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(path.relative(dir, p), fs.readFileSync(p).toString('base64'));
    }
  };
  walk(dir);
  return out;
}

function copyDir(from: string, to: string): string {
  fs.cpSync(from, to, { recursive: true });
  return to;
}

const noStack = (s: string) => assert.doesNotMatch(s, /\n\s+at .+:\d+:\d+/, 'no stack trace for a user error');

// ---- Nothing the user owns is overwritten

test('--run-dir naming a model folder is refused before any work; the model is untouched', () => {
  const dir = tempDir();
  const model = copyDir(TINY, path.join(dir, 'model'));
  const before = snapshot(model);
  const r = ulpt(tinyArgs(dir, ['--run-dir', model], { runDir: false }), dir);
  assert.equal(r.code, 2, r.all);
  assert.match(r.stderr, /--run-dir: .*model is not empty \(.*config\.json.*\); a run folder must be new or empty/);
  noStack(r.stderr);
  assert.deepEqual(snapshot(model), before);
  assert.ok(!fs.existsSync(path.join(dir, 'a.ulpt')));
});

test('an existing run folder is reused only by --resume: a fresh run there is refused and the run is intact', () => {
  const dir = tempDir();
  assert.equal(ulpt(tinyArgs(dir), dir).code, 0);
  const run = path.join(dir, 'run');
  const before = snapshot(run);
  const r = ulpt(tinyArgs(dir, ['--steps', '3']), dir);
  assert.equal(r.code, 2, r.all);
  assert.match(r.stderr, /already holds a run .*Continue it with --resume .*run/);
  assert.deepEqual(snapshot(run), before);
});

test('--out replaces an adapter, but never another file (unless --force); checked before training', () => {
  const dir = tempDir();
  const notes = path.join(dir, 'notes.txt');
  fs.writeFileSync(notes, 'my notes\n');
  const r = ulpt(tinyArgs(dir, ['--out', notes, '--steps', '50']), dir);
  assert.equal(r.code, 2, r.all);
  assert.match(r.stderr, /--out .*notes\.txt exists and is not a ULPT adapter, so it is not replaced\. .*--force/);
  assert.equal(fs.readFileSync(notes, 'utf8'), 'my notes\n');
  assert.ok(!fs.existsSync(path.join(dir, 'run')), 'refused before the run folder was made');
  assert.doesNotMatch(r.all, /step 1\//, 'refused before training');
  // An adapter at `out` is what re-training replaces; --force replaces anything.
  assert.equal(ulpt(tinyArgs(dir), dir).code, 0);
  const again = ulpt(tinyArgs(dir, ['--run-dir', path.join(dir, 'run2')]), dir);
  assert.equal(again.code, 0, again.all);
  // … and the CLI names the adapter it replaces, before and after.
  assert.match(again.stderr, /a\.ulpt holds an adapter \(ULPT r=2, made \d{4}-\d\d-\d\d \d\d:\d\d\); this run replaces it when it finishes \(give another --out to keep it\)/);
  assert.match(again.stdout, /replaced the adapter that was there \(ULPT r=2, made /);
  const forced = ulpt(tinyArgs(dir, ['--out', notes, '--force', '--run-dir', path.join(dir, 'run3')]), dir);
  assert.equal(forced.code, 0, forced.all);
  assert.equal(readAdapter(notes).meta.method, 'ulpt');
});

test('--out naming a folder is refused before training, in words (no EISDIR, no temp file)', () => {
  const dir = tempDir();
  fs.mkdirSync(path.join(dir, 'adapters'));
  const r = ulpt(tinyArgs(dir, ['--out', path.join(dir, 'adapters')]), dir);
  assert.equal(r.code, 2, r.all);
  assert.match(r.stderr, /--out .*adapters is a folder; it must name the adapter file to write \(e\.g\. .*adapters\/adapter\.ulpt\)/);
  assert.doesNotMatch(r.all, /EISDIR|\.tmp/);
  assert.deepEqual(fs.readdirSync(path.join(dir, 'adapters')), []);
  assert.ok(!fs.existsSync(path.join(dir, 'run')));
});

test('export-peft writes only into a new or empty folder or over an earlier export; else exit 2, untouched (--force overrides)', () => {
  const dir = tempDir();
  assert.equal(ulpt(tinyArgs(dir, ['--steps', '1']), dir).code, 0);
  const adapter = path.join(dir, 'a.ulpt');
  const exportTo = (out: string, extra: string[] = []) => ulpt(['export-peft', adapter, '--out', out, ...extra], dir);
  // A new folder, then the same folder again: an earlier export is replaced as a whole.
  const peft = path.join(dir, 'peft');
  assert.equal(exportTo(peft).code, 0);
  const config = path.join(peft, 'adapter_config.json');
  fs.writeFileSync(config, JSON.stringify({ ...JSON.parse(fs.readFileSync(config, 'utf8')), num_virtual_tokens: 99 }));
  fs.writeFileSync(path.join(peft, `adapter_config.json.${process.pid}.0badc0de.tmp`), 'left by a killed export');
  const again = exportTo(peft);
  assert.equal(again.code, 0, again.all);
  assert.equal(JSON.parse(fs.readFileSync(config, 'utf8')).num_virtual_tokens, 4);
  assert.deepEqual(fs.readdirSync(peft).sort(), ['adapter_config.json', 'adapter_model.safetensors']);
  // A folder with someone else's adapter_config.json (not PEFT's), or with other files beside an export.
  const other = path.join(dir, 'other');
  fs.mkdirSync(other);
  fs.writeFileSync(path.join(other, 'adapter_config.json'), '{"mine": true}\n');
  const mixed = copyDir(peft, path.join(dir, 'mixed'));
  fs.writeFileSync(path.join(mixed, 'notes.md'), 'my notes\n');
  for (const folder of [other, mixed]) {
    const before = snapshot(folder);
    const r = exportTo(folder);
    assert.equal(r.code, 2, r.all);
    assert.match(r.stderr, new RegExp(`${folder} is not empty and does not hold a PEFT export \\(.*\\), so nothing is written there\\. .*--force`));
    noStack(r.stderr);
    assert.deepEqual(snapshot(folder), before);
  }
  // A symlinked folder is refused by name, and nothing reaches its target.
  const target = path.join(dir, 'target');
  fs.mkdirSync(target);
  const link = path.join(dir, 'link');
  fs.symlinkSync(target, link);
  const viaLink = exportTo(link);
  assert.equal(viaLink.code, 2, viaLink.all);
  assert.match(viaLink.stderr, new RegExp(`${link} is a symbolic link \\(to ${target}\\); the export does not write through it`));
  assert.deepEqual(fs.readdirSync(target), []);
  // --force writes the two files into a folder with other files, and leaves those alone.
  const forced = exportTo(mixed, ['--force']);
  assert.equal(forced.code, 0, forced.all);
  assert.equal(fs.readFileSync(path.join(mixed, 'notes.md'), 'utf8'), 'my notes\n');
  assert.equal(JSON.parse(fs.readFileSync(path.join(mixed, 'adapter_config.json'), 'utf8')).peft_type, 'PROMPT_TUNING');
});

// ---- Runs never mix

test('two runs started together get two run folders, each with only its own metrics and config', async () => {
  const dir = tempDir();
  const start = (seed: string) => new Promise<number | null>((resolve) => {
    // The same out (so the same default run name), started in the same second.
    const p = spawn(process.execPath, [CLI, ...tinyArgs(dir, ['--seed', seed, '--steps', '4'], { runDir: false })], { cwd: dir, stdio: 'ignore' });
    p.on('exit', resolve);
  });
  assert.deepEqual(await Promise.all([start('1'), start('2')]), [0, 0]);
  const runs = fs.readdirSync(path.join(dir, '.ulpt', 'runs'));
  assert.equal(runs.length, 2, `two folders: ${runs.join(', ')}`);
  const seeds = runs.map((id) => {
    const d = path.join(dir, '.ulpt', 'runs', id);
    const steps = fs.readFileSync(path.join(d, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
    assert.deepEqual(steps, [1, 2, 3, 4], `${id}: its own four steps, once each`);
    const config = JSON.parse(fs.readFileSync(path.join(d, 'config.json'), 'utf8'));
    assert.equal(readAdapter(path.join(d, 'final.ulpt')).meta.seed, config.seed, `${id}: adapter and config from the same run`);
    return config.seed;
  });
  assert.deepEqual(seeds.sort(), ['1', '2']);
});

test('a run folder is claimed exclusively: the second claim of one folder fails, even when it is empty', () => {
  const dir = tempDir();
  const config = resolveConfig({ model: TINY, train: 'x.jsonl' }, dir);
  const run = path.join(dir, 'run');
  fs.mkdirSync(run);
  claimRunFolder(run, config);
  assert.throws(() => claimRunFolder(run, config), RunFolderError);
});

test('a file created exclusively (the wizard\'s saved config) never replaces one that exists, and appears whole', () => {
  const dir = tempDir();
  const file = path.join(dir, 'sentiment.ulpt.json');
  fs.writeFileSync(file, 'the user\'s own\n');
  assert.equal(createFileExclusive(file, '{"steps": 1}\n'), false);
  assert.equal(fs.readFileSync(file, 'utf8'), 'the user\'s own\n');
  const fresh = path.join(dir, 'sentiment-2.ulpt.json');
  assert.equal(createFileExclusive(fresh, '{"steps": 1}\n'), true);
  assert.deepEqual(JSON.parse(fs.readFileSync(fresh, 'utf8')), { steps: 1 });
  assert.deepEqual(fs.readdirSync(dir).sort(), ['sentiment-2.ulpt.json', 'sentiment.ulpt.json'], 'no temp file is left behind');
});

test('the extension (palette and tasks) obeys the same rule: a used run folder is refused, untouched', () => {
  const dir = tempDir();
  const run = path.join(dir, 'run');
  fs.mkdirSync(run);
  fs.writeFileSync(path.join(run, 'metrics.jsonl'), '{"type":"train","step":1,"loss":1}\n');
  const config = resolveConfig({ model: TINY, train: writeLines(dir, 'swap.jsonl', GOOD), steps: 2, backend: 'cpu', out: path.join(dir, 'a.ulpt') }, dir);
  // The extension claims a fresh run's folder before it starts the (detached) trainer in it.
  const manager = new RunManager(path.join(ROOT, 'dist', 'trainer.js'), () => ({ execPath: process.execPath, env: process.env, description: 'test' }));
  assert.throws(() => manager.start(config, run, false), (e: Error) => e instanceof RunFolderError && /already holds a run/.test(e.message));
  assert.deepEqual(fs.readdirSync(run), ['metrics.jsonl']);
});

// ---- Preflight: refused runs leave nothing, and name what to change

test('the documented minimal command trains the example model: the default maxLength fits its context', () => {
  const dir = tempDir();
  const minimal = ['train', '--model', path.join(EXAMPLE, 'model'), '--train', path.join(EXAMPLE, 'data', 'sentiment-train.jsonl')];
  const asGeneration = ulpt([...minimal, '--steps', '2', '--backend', 'cpu'], dir);
  assert.equal(asGeneration.code, 1);
  assert.match(asGeneration.stderr, /sentiment-train\.jsonl line 1: field "target" is missing; .*The record has a "label" field: for classification .*--task classification/);
  const r = ulpt([...minimal, '--task', 'classification', '--steps', '2', '--backend', 'cpu'], dir);
  assert.equal(r.code, 0, r.all);
  const [run] = fs.readdirSync(path.join(dir, '.ulpt', 'runs'));
  assert.equal(JSON.parse(fs.readFileSync(path.join(dir, '.ulpt', 'runs', run, 'config.json'), 'utf8')).maxLength, 118, '128 positions − 10 virtual tokens');
  assert.ok(fs.existsSync(path.join(dir, 'adapters', 'sentiment-train.ulpt')));
});

test('a maxLength that does not fit names the flag, the numbers and the model field, and exits 2', () => {
  const dir = tempDir();
  const r = ulpt(['train', '--model', path.join(EXAMPLE, 'model'), '--train', path.join(EXAMPLE, 'data', 'sentiment-train.jsonl'), '--max-length', '128', '--backend', 'cpu'], dir);
  assert.equal(r.code, 2, r.all);
  assert.match(r.stderr, /--max-length 128 \+ promptLength 10 = 138 tokens, but model holds 128 positions \(n_positions in config\.json\)\. Set --max-length to at most 118/);
  assert.ok(!fs.existsSync(path.join(dir, '.ulpt')), 'nothing left behind');
  const help = ulpt(['--help'], dir).stdout;
  assert.match(help, /--max-length L \[maxLength\]/);
});

test('flag errors exit 2 and name the flag as typed, in words', () => {
  const dir = tempDir();
  const zero = ulpt(tinyArgs(dir, ['--prompt-length', '0']), dir);
  assert.equal(zero.code, 2);
  assert.match(zero.stderr, /--prompt-length must be at least 1 \(got 0\)/);
  assert.doesNotMatch(zero.stderr, /promptLength/);
  const neg = ulpt(tinyArgs(dir, ['--seed=-5']), dir);
  assert.equal(neg.code, 2);
  assert.match(neg.stderr, /--seed must be a whole number from 0 to 18446744073709551615 \(64 bits\) \(got "-5"\)/);
  assert.doesNotMatch(neg.stderr, /\^\[0-9\]|pattern/);
  const notInt = ulpt(tinyArgs(dir, ['--steps', 'ten']), dir);
  assert.equal(notInt.code, 2);
  assert.match(notInt.stderr, /--steps must be a whole number \(got "ten"\)/);
  const file = path.join(dir, 'c.json');
  fs.writeFileSync(file, JSON.stringify({ model: TINY, train: 'x.jsonl', rank: 0, stepz: 3 }));
  const cfg = ulpt(['train', '--config', file], dir);
  assert.equal(cfg.code, 2);
  assert.match(cfg.stderr, /rank must be at least 1 \(got 0\)/);
  assert.match(cfg.stderr, /stepz is not a setting of this version/);
  assert.ok(!fs.existsSync(path.join(dir, 'run')) && !fs.existsSync(path.join(dir, '.ulpt')));
});

test('a seed beyond 64 bits is refused before the model is even looked for', () => {
  const dir = tempDir();
  const r = ulpt(['train', '--model', path.join(dir, 'no-such-model'), '--train', 'x.jsonl', '--seed', '18446744073709551616'], dir);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--seed must be a whole number from 0 to 18446744073709551615/);
  assert.doesNotMatch(r.stderr, /no-such-model/);
});

test('refused runs leave no run folders behind', () => {
  const dir = tempDir();
  const cases = [
    ['--prompt-length', '0'], ['--max-length', '999'], ['--out', dir], ['--validation', path.join(dir, 'missing.jsonl')],
  ];
  for (const extra of cases) assert.notEqual(ulpt(tinyArgs(dir, extra, { runDir: false }), dir).code, 0, extra.join(' '));
  const bad = writeLines(dir, 'bad.jsonl', [GOOD[0], '{"input": "no target"}']);
  assert.equal(ulpt([...tinyArgs(dir, [], { runDir: false }), '--train', bad], dir).code, 1);
  assert.ok(!fs.existsSync(path.join(dir, '.ulpt')), `left behind: ${fs.existsSync(path.join(dir, '.ulpt')) ? fs.readdirSync(path.join(dir, '.ulpt', 'runs')).join(', ') : ''}`);
});

// ---- predict / eval never answer from an input that does not fit

test('predict refuses an input the context cannot hold beside the virtual tokens, with the numbers; --truncate cuts it', () => {
  const dir = tempDir();
  // 56 virtual tokens on a 64-position model leave 8 positions: 2 for the answer, 6 for the input.
  const train = ulpt(tinyArgs(dir, ['--prompt-length', '56', '--max-length', '8']), dir);
  assert.equal(train.code, 0, train.all);
  const long = 'word '.repeat(40);
  const r = ulpt(['predict', '--model', TINY, '--adapter', path.join(dir, 'a.ulpt'), '--input', long, '--backend', 'cpu'], dir);
  assert.equal(r.code, 1, r.all);
  assert.match(r.stderr, /--input: the input is \d+ tokens, but tiny-gpt2 holds 64 positions, and the adapter's 56 virtual tokens and the 2 tokens kept for the answer leave room for 6\. .*--truncate/);
  assert.equal(r.stdout, '', 'no empty answer printed');
  const cut = ulpt(['predict', '--model', TINY, '--adapter', path.join(dir, 'a.ulpt'), '--input', long, '--truncate', '--backend', 'cpu', '--json'], dir);
  assert.equal(cut.code, 0, cut.all);
  assert.match(cut.stderr, /warning: .*an input was longer than maxLength allows and cut from the left/);
  assert.equal(typeof JSON.parse(cut.stdout.trim()).prediction, 'string');
});

// ---- A damaged run folder is diagnosed

test('--resume of a run with a damaged config.json says which file, what is wrong and what is still usable', () => {
  const dir = tempDir();
  const data = writeLines(dir, 'swap.jsonl', GOOD);
  const r0 = ulpt(['train', '--model', TINY, '--train', data, '--validation', data, '--steps', '2', '--eval-every', '1', '--max-length', '16', '--prompt-length', '4', '--backend', 'cpu', '--out', path.join(dir, 'a.ulpt'), '--run-dir', path.join(dir, 'run')], dir);
  assert.equal(r0.code, 0, r0.all);
  const run = path.join(dir, 'run');
  const config = fs.readFileSync(path.join(run, 'config.json'), 'utf8');
  fs.writeFileSync(path.join(run, 'config.json'), config.slice(0, 40));
  const r = ulpt(['train', '--resume', run], dir);
  assert.equal(r.code, 1, r.all);
  assert.match(r.stderr, /config\.json: damaged — not valid JSON/);
  assert.match(r.stderr, /Still usable:\n.*best\.ulpt: adapter from step \d+, loss/);
  assert.match(r.stderr, /checkpoint\.safetensors: step 2 — resumable once config\.json is repaired/);
  noStack(r.stderr);
  // A config that parses but is invalid is refused by the schema, naming the field.
  fs.writeFileSync(path.join(run, 'config.json'), JSON.stringify({ ...JSON.parse(config), steps: -1 }));
  const bad = ulpt(['train', '--resume', run], dir);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /config\.json: damaged — steps must be at least 1/);
  const inspect = ulpt(['inspect', run], dir);
  assert.equal(inspect.code, 0, inspect.all);
  assert.match(inspect.stdout, /config\.json\s+damaged\s+steps must be at least 1/);
  assert.match(inspect.stdout, /best\.ulpt\s+ok\s+adapter from step/);
  assert.equal(diagnoseRun(run).resumable, false);
});

// ---- Data problems are reported (and --strict refuses them)

test('data warnings name file and line: invalid UTF-8, empty target, cut input, a label only in validation', () => {
  const dir = tempDir();
  const train = writeLines(dir, 'train.jsonl', [
    ...Array.from({ length: 6 }, (_, i) => JSON.stringify({ input: `item ${i}`, label: i % 2 ? 'a' : 'b' })),
    Buffer.concat([Buffer.from('{"input": "caf'), Buffer.from([0xe9]), Buffer.from('", "label": "a"}')]),
    JSON.stringify({ input: 'word '.repeat(50), label: 'b' }),
  ]);
  const validation = writeLines(dir, 'val.jsonl', [JSON.stringify({ input: 'x', label: 'a' }), JSON.stringify({ input: 'y', label: 'c' })]);
  const args = ['train', '--model', TINY, '--train', train, '--validation', validation, '--task', 'classification', '--steps', '1', '--max-length', '16',
    '--prompt-length', '4', '--batch-size', '4', '--backend', 'cpu', '--out', path.join(dir, 'a.ulpt')];
  const r = ulpt([...args, '--run-dir', path.join(dir, 'run')], dir);
  assert.equal(r.code, 0, r.all);
  assert.match(r.stderr, /warning: train\.jsonl: a line is not valid UTF-8 \(line 7\)/);
  assert.match(r.stderr, /warning: train\.jsonl: an input was longer than maxLength allows and cut from the left \(line 8: \d+ → \d+ tokens\)/);
  assert.match(r.stderr, /warning: train\.jsonl: label "c" appears only in the validation data \(1 record, first at val\.jsonl line 2\)/);
  assert.match(r.stdout, /3 data warnings/);
  const summary = JSON.parse(fs.readFileSync(path.join(dir, 'run', 'summary.json'), 'utf8'));
  assert.equal(summary.warnings, 3);
  const strict = ulpt([...args, '--strict', '--run-dir', path.join(dir, 'run2')], dir);
  assert.equal(strict.code, 1);
  assert.match(strict.stderr, /strict mode refuses 3 data warnings/);
  assert.ok(!fs.existsSync(path.join(dir, 'run2')), 'a strict refusal leaves nothing behind');
  // An empty generation target.
  const gen = writeLines(dir, 'gen.jsonl', [...GOOD.slice(0, 4), JSON.stringify({ input: 'word 9 =', target: '' })]);
  const g = ulpt(['train', '--model', TINY, '--train', gen, '--steps', '1', '--max-length', '16', '--prompt-length', '4', '--backend', 'cpu', '--out', path.join(dir, 'g.ulpt'), '--run-dir', path.join(dir, 'run3')], dir);
  assert.equal(g.code, 0, g.all);
  assert.match(g.stderr, /warning: gen\.jsonl: a record has an empty target \(line 5\)/);
});

// ---- Locks and leftovers of a killed process

/** The pid of a process that has ended. */
function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
}

test('a run left with an empty lock.json and temp files (a kill mid-write): inspect lists them, --resume clears them and finishes', () => {
  const dir = tempDir();
  const r0 = ulpt(tinyArgs(dir, ['--steps', '4', '--checkpoint-every', '2']), dir);
  assert.equal(r0.code, 0, r0.all);
  const run = path.join(dir, 'run');
  // Back to "interrupted at step 2": no summary, an empty lock, and the temp files of writes killed half-way.
  fs.rmSync(path.join(run, 'summary.json'));
  fs.writeFileSync(path.join(run, 'lock.json'), '');
  const old = new Date(Date.now() - 60_000);
  fs.utimesSync(path.join(run, 'lock.json'), old, old);
  const pid = deadPid();
  const temps = [path.join(run, `checkpoint.safetensors.${pid}.1a2b3c4d.tmp`), path.join(dir, `a.ulpt.${pid}.5e6f7a8b.tmp`)];
  for (const t of temps) fs.writeFileSync(t, 'half');
  const inspect = ulpt(['inspect', run], dir);
  assert.equal(inspect.code, 0, inspect.all);
  assert.match(inspect.stdout, /lock\.json\s+stale\s+lock\.json is empty: the process that took it was ended while writing it/);
  assert.match(inspect.stdout, new RegExp(`temp files left by an interrupted write \\(removed on resume\\): checkpoint\\.safetensors\\.${pid}\\.1a2b3c4d\\.tmp`));
  assert.match(inspect.stdout, /resumable from step 4/);
  const resumed = ulpt(['train', '--resume', run], dir);
  assert.equal(resumed.code, 0, resumed.all);
  assert.doesNotMatch(resumed.all, /taken by/);
  assert.match(resumed.stderr, new RegExp(`Removed 2 temp files left by an interrupted write: checkpoint\\.safetensors\\.${pid}\\.1a2b3c4d\\.tmp, a\\.ulpt\\.${pid}\\.5e6f7a8b\\.tmp`));
  for (const t of temps) assert.ok(!fs.existsSync(t), t);
  assert.ok(!fs.existsSync(path.join(run, 'lock.json')));
});

test('inspect shows the process that trains a run now', async () => {
  const dir = tempDir();
  const run = path.join(dir, 'run');
  const child = spawn(process.execPath, [CLI, ...tinyArgs(dir, ['--steps', '100000'])], { cwd: dir, stdio: 'ignore' });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  try {
    while (!fs.existsSync(path.join(run, 'metrics.jsonl'))) await new Promise((r) => setTimeout(r, 50));
    const r = ulpt(['inspect', run], dir);
    assert.match(r.stdout, new RegExp(`lock\\.json\\s+alive\\s+trained now by ulpt train \\(pid ${child.pid} on .*, since \\d{4}-`));
    assert.match(r.stdout, /being trained now/);
    assert.doesNotMatch(r.stdout, /resumable from/);
    const json = JSON.parse(ulpt(['inspect', run, '--json'], dir).stdout);
    assert.equal(json.owner.state, 'alive');
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
});

// ---- The command line in the product's words

test('flag mistakes are said in ulpt\'s words (exit 2): unknown flag with a suggestion, missing value, one dash, extra argument', () => {
  const dir = tempDir();
  const cases: [string[], RegExp][] = [
    [['train', '--stepz', '3'], /^ulpt: --stepz is not an option of ulpt; did you mean --steps\?\n/],
    [['train', '--frobnicate'], /^ulpt: --frobnicate is not an option of ulpt\.\n/],
    [['train', '--model'], /^ulpt: --model needs a value\.\n/],
    [['train', '--steps', '--json'], /^ulpt: --steps needs a value, but an option follows it \(a value that starts with a dash is written --steps=-…\)\.\n/],
    [['train', '--json=yes'], /^ulpt: --json is a switch and takes no value\.\n/],
    [['train', '-steps', '3'], /^ulpt: -steps: options take two dashes \(--steps\)\.\n/],
    [['eval', 'data.jsonl'], /^ulpt: ulpt eval: unexpected argument "data\.jsonl" \(a value needs its flag, e\.g\. --data data\.jsonl\)\.\n/],
    [['inspect', 'a.ulpt', 'b.ulpt'], /^ulpt: ulpt inspect: unexpected argument "b\.ulpt"/],
  ];
  for (const [args, message] of cases) {
    const r = ulpt(args, dir);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.all}`);
    assert.match(r.stderr, message, args.join(' '));
    assert.doesNotMatch(r.stderr, /positional argument|ERR_PARSE_ARGS|place it at the end/, args.join(' '));
  }
});

test('with --json an error is also a JSON message on stdout, with the exit status', () => {
  const dir = tempDir();
  const usage = ulpt(['train', '--json', '--stepz', '3'], dir);
  assert.equal(usage.code, 2);
  assert.deepEqual(JSON.parse(usage.stdout), { type: 'error', message: '--stepz is not an option of ulpt; did you mean --steps?', exitCode: 2 });
  const failed = ulpt(['inspect', path.join(dir, 'missing.ulpt'), '--json'], dir);
  assert.equal(failed.code, 1);
  const line = JSON.parse(failed.stdout);
  assert.equal(line.type, 'error');
  assert.equal(line.exitCode, 1);
  assert.match(line.message, /missing\.ulpt/);
});

test('an empty or non-JSON stop-request.json still stops the run (exit 130, checkpoint kept), with a warning', async () => {
  for (const content of ['', 'stop please']) {
    const dir = tempDir();
    const run = path.join(dir, 'run');
    const child = spawn(process.execPath, [CLI, ...tinyArgs(dir, ['--steps', '100000'])], { cwd: dir });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    while (!fs.existsSync(path.join(run, 'metrics.jsonl'))) await new Promise((r) => setTimeout(r, 50));
    fs.writeFileSync(path.join(run, 'stop-request.json'), content);
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('still running'), 30_000))]);
    if (code === 'still running') child.kill('SIGKILL');
    assert.equal(code, 130, stderr);
    assert.match(stderr, new RegExp(`warning: stop-request\\.json ${content ? 'is not the JSON a stop request holds' : 'is empty'}; it is taken as a request to stop\\.`));
    assert.ok(diagnoseRun(run).resumable);
    assert.ok(!fs.existsSync(path.join(run, 'lock.json')) && !fs.existsSync(path.join(run, 'stop-request.json')));
  }
});

test('progress lines come when stderr is not a terminal: at the first step and then at least every ULPT_PROGRESS_SECONDS', () => {
  const dir = tempDir();
  const r = spawnSync(process.execPath, [CLI, ...tinyArgs(dir, ['--steps', '40'])], { cwd: dir, encoding: 'utf8', env: { ...process.env, ULPT_PROGRESS_SECONDS: '0.001' } });
  assert.equal(r.status, 0, r.stderr);
  const steps = [...r.stderr.matchAll(/^ {2}step (\d+)\/40 /gm)].map((m) => Number(m[1]));
  assert.equal(steps[0], 1);
  assert.ok(steps.length > 10, `a line per step with a 1 ms interval, got ${steps.join(', ')}`);
});

// ---- Checked before any work (exit 2, nothing left behind)

/** A folder this process cannot write in: a read-only tmpfs as root (root ignores permissions), else mode 555. */
function readOnlyFolder(t: { after: (fn: () => void) => void }): string {
  const dir = tempDir('ulpt-ro-');
  if (process.getuid?.() === 0 && spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,ro', 'tmpfs', dir]).status === 0) {
    t.after(() => {
      if (spawnSync('umount', [dir]).status !== 0) spawnSync('umount', ['-l', dir]);
      fs.rmSync(dir, { recursive: true, force: true });
    });
  } else {
    fs.chmodSync(dir, 0o555);
  }
  return dir;
}

test('refused before any work with exit 2: rank above the hidden size, an unwritable --out or --run-dir, a --run-dir under a file', (t) => {
  const dir = tempDir();
  const ro = readOnlyFolder(t);
  const file = path.join(dir, 'notes.txt');
  fs.writeFileSync(file, 'my notes\n');
  const cases: [string[], RegExp][] = [
    [['--rank', '33'], /--rank 33 is larger than tiny-gpt2's hidden size 32: .*Use a rank of at most 32\./],
    [['--out', path.join(ro, 'a.ulpt')], new RegExp(`--out ${ro}/a\\.ulpt cannot be created: ${ro} (is on a read-only file system|is not writable for this user)\\.`)],
    [['--run-dir', path.join(ro, 'run')], new RegExp(`--run-dir: ${ro}/run cannot be created: ${ro} (is on a read-only file system|is not writable for this user)\\.`)],
    [['--run-dir', path.join(file, 'run')], new RegExp(`--run-dir: ${file}/run cannot be created: ${file} is a file, not a folder\\.`)],
  ];
  for (const [extra, message] of cases) {
    const r = ulpt(tinyArgs(dir, extra, { runDir: extra[0] !== '--run-dir' }), dir);
    assert.equal(r.code, 2, `${extra.join(' ')}: ${r.all}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.all, /step 1\/|EACCES|EROFS|ENOTDIR/);
    noStack(r.stderr);
  }
  assert.deepEqual(fs.readdirSync(dir).sort(), ['notes.txt', 'swap.jsonl'], 'no run folder, no adapter');
  assert.equal(fs.readFileSync(file, 'utf8'), 'my notes\n');
});

test('--resume and inspect on a model folder say it is not a run folder (exit 2), once', () => {
  const dir = tempDir();
  const model = copyDir(TINY, path.join(dir, 'model'));
  const before = snapshot(model);
  for (const args of [['train', '--resume', model], ['inspect', model]]) {
    const r = ulpt(args, dir);
    assert.equal(r.code, 2, r.all);
    assert.match(r.stderr, new RegExp(`${model} is a model folder \\(its config\\.json describes a gpt2 model\\), not a run folder\\.`));
    assert.doesNotMatch(r.stderr, /not a setting/);
  }
  assert.deepEqual(snapshot(model), before);
});

test('a shard index that names a file outside the model folder is refused, naming the index and the shard', () => {
  const dir = tempDir();
  const model = copyDir(TINY, path.join(dir, 'model'));
  // The weights moved beside the folder, and an index that reaches them with ../
  fs.renameSync(path.join(model, 'model.safetensors'), path.join(dir, 'outside.safetensors'));
  fs.writeFileSync(path.join(model, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: { 'wte.weight': '../outside.safetensors' } }));
  const r = ulpt(['train', '--model', model, '--train', writeLines(dir, 'swap.jsonl', GOOD), '--steps', '1', '--backend', 'cpu', '--out', path.join(dir, 'a.ulpt'), '--run-dir', path.join(dir, 'run')], dir);
  assert.equal(r.code, 1, r.all);
  assert.match(r.stderr, new RegExp(`model\\.safetensors\\.index\\.json names the shard "\\.\\./outside\\.safetensors", which is outside the model folder .*model; shards must be files in the model folder\\.`));
  noStack(r.stderr);
  assert.ok(!fs.existsSync(path.join(dir, 'run')) && !fs.existsSync(path.join(dir, 'a.ulpt')));
});

// ---- Divergence stops at once

test('a diverging run stops at its first non-finite step, names the step and the likely cause, and keeps a finite checkpoint', () => {
  const dir = tempDir();
  const r = ulpt(tinyArgs(dir, ['--lr', '1e30', '--steps', '50', '--checkpoint-every', '1']), dir);
  assert.equal(r.code, 1, r.all);
  const m = /ulpt: Training diverged at step (\d+): the (loss|gradient norm) is .*\. Likely cause: the learning rate is too high for this run \(lr 1e\+30\): start again with a lower one, e\.g\. lr 1e\+29\. Stopped there; nothing non-finite was saved\. The run folder keeps its checkpoint of step (\d+), from before the divergence\./.exec(r.stderr);
  assert.ok(m, r.stderr);
  assert.equal(Number(m[3]), Number(m[1]) - 1);
  noStack(r.stderr);
  const run = path.join(dir, 'run');
  const steps = fs.readFileSync(path.join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(steps.length, Number(m[3]), 'no line for the non-finite step, nor after it');
  assert.ok(steps.every((s) => Number.isFinite(s.loss)));
  assert.equal(diagnoseRun(run).checkpointStep, Number(m[3]));
  assert.ok(!fs.existsSync(path.join(run, 'final.ulpt')) && !fs.existsSync(path.join(dir, 'a.ulpt')));
});

test('a NaN in a model weight is named at step 1; inspect does not call a NaN checkpoint resumable', () => {
  const dir = tempDir();
  const model = editedModel(TINY, (w) => {
    (w['h.0.mlp.c_fc.weight'].data as Float32Array)[7] = NaN;
  });
  const r = ulpt(['train', '--model', model, ...tinyArgs(dir).slice(3)], dir);
  assert.equal(r.code, 1, r.all);
  assert.match(r.stderr, /Training diverged at step 1: the loss is NaN\. Likely cause: the model's weight h\.0\.mlp\.c_fc\.weight holds NaN or infinite values/);
  // A checkpoint with a NaN in it (written by an older version, or damaged): not resumable, and why.
  const ok = ulpt(tinyArgs(dir, ['--run-dir', path.join(dir, 'run2')]), dir);
  assert.equal(ok.code, 0, ok.all);
  const ckpt = path.join(dir, 'run2', 'checkpoint.safetensors');
  const bytes = fs.readFileSync(ckpt);
  bytes.writeFloatLE(NaN, bytes.length - 4);
  fs.writeFileSync(ckpt, bytes);
  const inspect = ulpt(['inspect', path.join(dir, 'run2')], dir);
  assert.match(inspect.stdout, /checkpoint\.safetensors\s+damaged\s+its tensor \S+ holds non-finite values \(NaN or infinite, first at \d+\): the run diverged before it was saved/);
  assert.match(inspect.stdout, /not resumable/);
});

// ---- Resume checks what it resumes

/** A run of the tiny model stopped part-way (as by Ctrl+C): its folder, model copy and data file. */
async function stoppedRun(dir: string, extra: string[] = []): Promise<{ run: string; model: string; data: string }> {
  const model = copyDir(TINY, path.join(dir, 'model'));
  const data = writeLines(dir, 'swap.jsonl', GOOD);
  const run = path.join(dir, 'run');
  const args = ['train', '--model', model, '--train', data, '--steps', '40', '--checkpoint-every', '2', '--prompt-length', '4', '--max-length', '16', '--batch-size', '4',
    '--backend', 'cpu', '--out', path.join(dir, 'a.ulpt'), '--run-dir', run, ...extra];
  const child = spawn(process.execPath, [CLI, ...args], { cwd: dir, stdio: 'ignore' });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  while (!fs.existsSync(path.join(run, 'checkpoint.safetensors'))) await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGINT');
  assert.equal(await exited, 130);
  return { run, model, data };
}

test('a resume whose data, model or settings changed names the change and refuses, untouched; --accept-changes goes on', async () => {
  const dir = tempDir();
  const { run, model, data } = await stoppedRun(dir);
  const refused = (what: RegExp) => {
    const before = snapshot(run);
    const r = ulpt(['train', '--resume', run], dir);
    assert.equal(r.code, 2, r.all);
    assert.match(r.stderr, new RegExp(`${run} would not resume the same run: since its checkpoint \\(step \\d+\\),\\n`));
    assert.match(r.stderr, what);
    assert.match(r.stderr, /resume with --accept-changes/);
    assert.deepEqual(snapshot(run), before, 'a refused resume changes nothing in the run folder');
  };
  const original = fs.readFileSync(data);
  fs.appendFileSync(data, JSON.stringify({ input: 'word 99 =', target: ' 3' }) + '\n');
  refused(/\n {2}the train data file's content changed\n/);
  fs.writeFileSync(data, original);
  const weights = path.join(model, 'model.safetensors');
  const bytes = fs.readFileSync(weights);
  bytes.writeFloatLE(bytes.readFloatLE(bytes.length - 4) + 1, bytes.length - 4);
  fs.writeFileSync(weights, bytes);
  refused(/\n {2}the model changed \(model\.safetensors differs\)\n/);
  fs.copyFileSync(path.join(TINY, 'model.safetensors'), weights);
  const configFile = path.join(run, 'config.json');
  fs.writeFileSync(configFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(configFile, 'utf8')), lr: 0.5 }, null, 2));
  refused(/\n {2}setting lr: 0\.01 → 0\.5\n/);
  const accepted = ulpt(['train', '--resume', run, '--accept-changes'], dir);
  assert.equal(accepted.code, 0, accepted.all);
  assert.match(accepted.stderr, /warning: Resuming with a change: setting lr: 0\.01 → 0\.5 \(accepted with --accept-changes\)\./);
  assert.equal(JSON.parse(fs.readFileSync(path.join(run, 'summary.json'), 'utf8')).steps, 40);
});

test('a resume refuses to go behind its checkpoint, and a completed run says so and changes nothing', async () => {
  const dir = tempDir();
  const { run } = await stoppedRun(dir);
  const configFile = path.join(run, 'config.json');
  const config = JSON.parse(fs.readFileSync(configFile, 'utf8'));
  const step = diagnoseRun(run).checkpointStep!;
  fs.writeFileSync(configFile, JSON.stringify({ ...config, steps: step - 1 }, null, 2));
  const back = ulpt(['train', '--resume', run, '--accept-changes'], dir);
  assert.equal(back.code, 2, back.all);
  assert.match(back.stderr, new RegExp(`its config\\.json asks for ${step - 1} steps, but its checkpoint is at step ${step}; a resume cannot go back`));
  // Going on longer is allowed, and said.
  fs.writeFileSync(configFile, JSON.stringify({ ...config, steps: 45 }, null, 2));
  const longer = ulpt(['train', '--resume', run], dir);
  assert.equal(longer.code, 0, longer.all);
  assert.match(longer.stderr, /warning: Resuming with a change: setting steps: 40 → 45 \(the learning-rate schedule and evaluations follow the new value\)\./);
  const before = snapshot(run);
  const again = ulpt(['train', '--resume', run], dir);
  assert.equal(again.code, 2, again.all);
  assert.match(again.stderr, new RegExp(`${run} already completed \\(completed after 45 of 45 steps\\); nothing was changed\\. Its adapter: .*a\\.ulpt`));
  assert.deepEqual(snapshot(run), before);
});

test('summary.json after a resume keeps the un-prompted baseline and the final loss', async () => {
  const dir = tempDir();
  const { run } = await stoppedRun(dir, ['--validation', path.join(dir, 'swap.jsonl'), '--eval-every', '0']);
  const r = ulpt(['train', '--resume', run], dir);
  assert.equal(r.code, 0, r.all);
  const summary = JSON.parse(fs.readFileSync(path.join(run, 'summary.json'), 'utf8'));
  const lines = fs.readFileSync(path.join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const baseline = lines.find((l) => l.type === 'baseline');
  assert.ok(baseline, 'the first session measured the baseline');
  assert.deepEqual(summary.baseline, { loss: baseline.loss, metrics: baseline.metrics });
  assert.deepEqual(summary.final, { loss: lines.filter((l) => l.type === 'train').at(-1).loss });
});

// ---- Values JSON or the parser would garble

test('forward --ids refuses empty items and hex; a config file\'s task that is not an object, or a seed above 2^53 as a number, gets one message; a BOM is read', () => {
  const dir = tempDir();
  for (const [ids, what] of [['1,,2', /--ids has an empty item \(two commas in a row, or one at an end\)/], ['1,2,', /--ids has an empty item/], ['0x1f', /--ids has "0x1f", which is not a token id/], ['1e2', /--ids has "1e2"/]] as const) {
    const r = ulpt(['forward', '--model', TINY, '--ids', ids, '--backend', 'cpu', '--json'], dir);
    assert.equal(r.code, 2, `${ids}: ${r.all}`);
    assert.match(r.stderr, what);
  }
  const config = (name: string, text: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return ulpt(['train', '--config', file, '--steps', '1', '--backend', 'cpu', '--run-dir', path.join(dir, `run-${name}`)], dir);
  };
  const data = writeLines(dir, 'swap.jsonl', GOOD);
  const base = { model: TINY, train: data, out: path.join(dir, 'a.ulpt'), promptLength: 4, maxLength: 16 };
  const task = config('task.json', JSON.stringify({ ...base, task: 'classification' }));
  assert.equal(task.code, 2, task.all);
  assert.match(task.stderr, /task\.json: task must be an object such as \{"type": "classification", "template": "\{input\}"\} \(got "classification"\)\./);
  assert.equal(task.stderr.trim().split('\n').length, 1, 'one message, not one per character');
  const seed = config('seed.json', JSON.stringify(base).replace(/}$/, ', "seed": 18446744073709551615}'));
  assert.equal(seed.code, 2, seed.all);
  assert.match(seed.stderr, /seed\.json: seed 18446744073709551615 is above 2\^53, where a JSON number loses digits \(it reads as 18446744073709551616\)\. Write it in quotes: "seed": "18446744073709551615"\./);
  const bom = config('bom.json', '\uFEFF' + JSON.stringify(base));
  assert.equal(bom.code, 0, bom.all);
});

// ---- Flags that contradict or do nothing

test('contradicting or idle flags are refused before any work (exit 2), naming both', () => {
  const dir = tempDir();
  const val = writeLines(dir, 'val.jsonl', GOOD.slice(0, 4));
  const cases: [string[], RegExp][] = [
    [['--validation', val, '--validation-split', '0.2'], /--validation and --validation-split both choose the validation data; give one of them\./],
    [['--method', 'prompt-tuning', '--rank', '8'], /--rank applies to ULPT only; with --method prompt-tuning it does nothing\. Leave it out\./],
    [['--method', 'prompt-tuning', '--no-alignment', '--scale-init', 'embedding'], /--no-alignment, --scale-init apply to ULPT only/],
    [['--early-stopping', '3'], /--early-stopping stops on the validation metric, but there is no validation data: give --validation FILE or --validation-split F\./],
  ];
  for (const [extra, message] of cases) {
    const r = ulpt(tinyArgs(dir, extra), dir);
    assert.equal(r.code, 2, `${extra.join(' ')}: ${r.all}`);
    assert.match(r.stderr, message, extra.join(' '));
  }
  assert.ok(!fs.existsSync(path.join(dir, 'run')));
  assert.equal(ulpt(tinyArgs(dir, ['--method', 'prompt-tuning']), dir).code, 0, 'prompt tuning without ULPT flags trains');
  // A warm-up as long as the run trains (trying a config with --steps 4 is common), with a warning saying so.
  const warm = ulpt(tinyArgs(dir, ['--warmup-steps', '5', '--steps', '4', '--run-dir', path.join(dir, 'run-warm'), '--out', path.join(dir, 'warm.ulpt')]), dir);
  assert.equal(warm.code, 0, warm.all);
  assert.match(warm.stderr, /warning: --warmup-steps 5 is not shorter than the run \(--steps 4\): the learning rate rises to 0\.0080 at the last step and never reaches lr 0\.01\./);
  const both = ulpt(['predict', '--model', TINY, '--adapter', path.join(dir, 'a.ulpt'), '--input', 'x', '--data', val, '--backend', 'cpu'], dir);
  assert.equal(both.code, 2, both.all);
  assert.match(both.stderr, /predict takes --input TEXT or --data FILE, not both\./);
  const taskType = ulpt(['export-peft', path.join(dir, 'a.ulpt'), '--out', path.join(dir, 'peft'), '--task-type', 'SEQ_2_SEQ_LM'], dir);
  assert.equal(taskType.code, 2, taskType.all);
  assert.match(taskType.stderr, /--task-type SEQ_2_SEQ_LM does not fit the adapter's gpt2 model \(PEFT loads it as CAUSAL_LM\); leave it out, or pass --force/);
  assert.ok(!fs.existsSync(path.join(dir, 'peft')));
});

test('likely data mistakes warn: a template with no field, validation = train, one label only, an empty label', () => {
  const dir = tempDir();
  const data = writeLines(dir, 'swap.jsonl', GOOD);
  const noField = ulpt(tinyArgs(dir, ['--template', 'translate this:', '--validation', data, '--run-dir', path.join(dir, 'run1')]), dir);
  assert.equal(noField.code, 0, noField.all);
  assert.match(noField.stderr, /warning: swap\.jsonl: the template "translate this:" uses no field of the data, so every example gets the same prompt; write \{input\} where the input goes\./);
  assert.match(noField.stderr, /warning: swap\.jsonl: the validation file is the training file: evaluation then measures what was trained on/);
  const labels = writeLines(dir, 'labels.jsonl', [
    ...Array.from({ length: 4 }, (_, i) => JSON.stringify({ input: `item ${i}`, label: 'yes' })),
  ]);
  const one = ulpt(['train', '--model', TINY, '--train', labels, '--task', 'classification', '--steps', '1', '--prompt-length', '4', '--max-length', '16', '--backend', 'cpu', '--out', path.join(dir, 'b.ulpt'), '--run-dir', path.join(dir, 'run2')], dir);
  assert.equal(one.code, 0, one.all);
  assert.match(one.stderr, /warning: labels\.jsonl: every record has the label "yes": the model can only learn to always answer it\./);
  fs.appendFileSync(labels, JSON.stringify({ input: 'item 9', label: '' }) + '\n');
  const empty = ulpt(['train', '--model', TINY, '--train', labels, '--task', 'classification', '--steps', '1', '--prompt-length', '4', '--max-length', '16', '--backend', 'cpu', '--out', path.join(dir, 'b.ulpt'), '--run-dir', path.join(dir, 'run3'), '--strict'], dir);
  assert.equal(empty.code, 1, empty.all);
  assert.match(empty.stderr, /strict mode refuses 1 data warning:\n {2}labels\.jsonl: a label is empty \(a record's "label" is ""\): the model is trained to answer a bare space for it\./);
});
