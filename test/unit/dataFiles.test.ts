// A data setting that is a glob over local files (src/data/files.ts): every match, in path order, read as one
// dataset, each record naming its own file and line; a glob matching nothing names the folder it looked in; the
// run's input digest changes when a shard is added or edited, and not when the folder is moved.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { dataFiles, dataPresent, globMatcher } from '../../src/data/files';
import { readRecords } from '../../src/data/readers';
import { DatasetError } from '../../src/data/errors';
import { dataDigest, fileDigest } from '../../src/train/inputs';
import { ROOT, tempDir } from './helpers';

const CLI = path.join(ROOT, 'dist', 'cli.js');

const jsonl = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

function shardsIn(dir: string): string[] {
  fs.mkdirSync(path.join(dir, 'data', 'more'), { recursive: true });
  // Written out of order, and with names whose locale order differs from byte order (B before a in bytes).
  const files = {
    'data/part-b.jsonl': jsonl([{ input: 'b1', target: 'x' }, { input: 'b2', target: 'y' }]),
    'data/part-B.jsonl': jsonl([{ input: 'B1', target: 'x' }]),
    'data/part-a.jsonl': jsonl([{ input: 'a1', target: 'x' }, { input: 'a2', target: 'y' }, { input: 'a3', target: 'z' }]),
    'data/part-c.jsonl': '',
    'data/more/part-d.jsonl': jsonl([{ input: 'd1', target: 'x' }]),
    'data/notes.txt': 'not data\n',
  };
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, ...name.split('/')), text);
  return Object.keys(files);
}

test('a local glob reads every matching file in byte order of the path, each record naming its file and line', async () => {
  const dir = tempDir();
  shardsIn(dir);
  const spec = path.join(dir, 'data', 'part-*.jsonl');
  assert.deepEqual(dataFiles(spec).map((f) => path.relative(dir, f)), ['part-B', 'part-a', 'part-b', 'part-c'].map((n) => path.join('data', `${n}.jsonl`)));
  const records = await readRecords(spec);
  assert.deepEqual(records.map((r) => r.fields.input), ['B1', 'a1', 'a2', 'a3', 'b1', 'b2'], 'the empty part-c adds nothing and is no error');
  assert.deepEqual(records.map((r) => `${path.basename(r.where.file)} ${r.where.label}`), ['part-B.jsonl line 1', 'part-a.jsonl line 1', 'part-a.jsonl line 2', 'part-a.jsonl line 3', 'part-b.jsonl line 1', 'part-b.jsonl line 2']);
  // ** crosses folders; a plain path is itself.
  assert.deepEqual((await readRecords(path.join(dir, 'data', '**', 'part-?.jsonl'))).map((r) => r.fields.input), ['d1', 'B1', 'a1', 'a2', 'a3', 'b1', 'b2'], 'more/part-d.jsonl sorts first');
  assert.deepEqual(dataFiles(path.join(dir, 'data', 'part-a.jsonl')), [path.join(dir, 'data', 'part-a.jsonl')]);
  assert.ok(dataPresent(spec) && !dataPresent(path.join(dir, 'data', 'none-*.jsonl')));
});

test('a glob matching nothing, or only empty files, or a file of another format, is an error for people', async () => {
  const dir = tempDir();
  shardsIn(dir);
  const none = path.join(dir, 'data', 'train-*.jsonl');
  await assert.rejects(readRecords(none), (e: unknown) => e instanceof DatasetError && e.message === `${none}: no file matches this pattern (looked in ${path.join(dir, 'data')}; * and ? match within a folder name, ** across folders).`);
  const onlyEmpty = path.join(dir, 'data', 'part-c*');
  await assert.rejects(readRecords(onlyEmpty), new RegExp(`${path.join(dir, 'data', 'part-c.jsonl').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: the file contains no records\\.`));
  await assert.rejects(readRecords(path.join(dir, 'data', '*')), /notes\.txt: cannot tell the format from the extension "\.txt"/);
  fs.mkdirSync(path.join(dir, 'empty'));
  for (const f of ['e1.jsonl', 'e2.jsonl']) fs.writeFileSync(path.join(dir, 'empty', f), '');
  await assert.rejects(readRecords(path.join(dir, 'empty', '*.jsonl')), /empty\/\*\.jsonl: none of the 2 files it matches contains a record\./);
});

test('the input digest of a glob covers each file by name and content, and not the folder it lies in', () => {
  const dir = tempDir();
  shardsIn(dir);
  const spec = (d: string) => path.join(d, 'data', 'part-?.jsonl');
  const names = ['part-B.jsonl', 'part-a.jsonl', 'part-b.jsonl', 'part-c.jsonl'];
  const expected = (d: string) => `files-sha256:${createHash('sha256').update(names.map((n) => `${n}\t${fileDigest(path.join(d, 'data', n))}\n`).join('')).digest('hex')}`;
  const before = dataDigest(spec(dir));
  assert.equal(before, expected(dir));
  assert.equal(dataDigest(path.join(dir, 'data', 'part-a.jsonl')), fileDigest(path.join(dir, 'data', 'part-a.jsonl')), 'one file: its own digest, as before globs');
  const moved = `${dir}-moved`;
  fs.renameSync(dir, moved);
  assert.equal(dataDigest(spec(moved)), before, 'a moved folder is the same data');
  fs.appendFileSync(path.join(moved, 'data', 'part-c.jsonl'), jsonl([{ input: 'c1', target: 'x' }]));
  const edited = dataDigest(spec(moved));
  assert.notEqual(edited, before, 'a shard edited');
  fs.writeFileSync(path.join(moved, 'data', 'part-d.jsonl'), jsonl([{ input: 'd', target: 'x' }]));
  assert.notEqual(dataDigest(spec(moved)), edited, 'a shard added');
  assert.ok(globMatcher('part-?.jsonl').test('part-d.jsonl') && !globMatcher('part-?.jsonl').test('more/part-d.jsonl'));
});

test('a run on a local glob: trained on every shard; a resume after a shard was added is refused, naming the data', { skip: !fs.existsSync(CLI) && 'dist/cli.js not built (node esbuild.mjs)' }, () => {
  const dir = tempDir();
  fs.mkdirSync(path.join(dir, 'data'));
  const records = fs.readFileSync(path.join(ROOT, 'examples', 'workspace', 'data', 'reverse-train.jsonl'), 'utf8').trim().split('\n');
  fs.writeFileSync(path.join(dir, 'data', 'part-0.jsonl'), records.slice(0, 20).join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'data', 'part-1.jsonl'), records.slice(20, 40).join('\n') + '\n');
  const run = path.join(dir, 'run');
  const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: 'utf8', timeout: 180_000 });
  const first = cli(['train', '--model', path.join(ROOT, 'examples', 'workspace', 'model'), '--train', 'data/part-*.jsonl', '--steps', '2', '--prompt-length', '4', '--max-length', '24',
    '--batch-size', '4', '--backend', 'cpu', '--threads', '1', '--eval-every', '0', '--checkpoint-every', '1', '--out', path.join(dir, 'a.ulpt'), '--run-dir', run, '--json']);
  assert.equal(first.status, 0, first.stderr);
  const started = first.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; examples?: { train: number } }).find((m) => m.type === 'started');
  assert.equal(started?.examples?.train, 40, 'both shards');
  const stored = JSON.parse(fs.readFileSync(path.join(run, 'config.json'), 'utf8')) as { train: string; steps: number };
  assert.equal(stored.train, path.join(dir, 'data', 'part-*.jsonl'), 'the run keeps the glob');
  fs.writeFileSync(path.join(run, 'config.json'), JSON.stringify({ ...stored, steps: 4 }));
  fs.writeFileSync(path.join(dir, 'data', 'part-2.jsonl'), records.slice(40, 50).join('\n') + '\n');
  const resumed = cli(['train', '--resume', run]);
  assert.equal(resumed.status, 2, resumed.stdout + resumed.stderr);
  assert.match(resumed.stderr, /would not resume the same run: since its checkpoint \(step 2\),\n\s+the train data file's content changed/);
  fs.rmSync(path.join(dir, 'data', 'part-2.jsonl'));
  const again = cli(['train', '--resume', run, '--json']);
  assert.equal(again.status, 0, again.stderr);
});
