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
import { ROOT, TINY, tempDir } from './helpers';

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
