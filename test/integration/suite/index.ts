// The integration suite, run by @vscode/test-electron inside the extension host of a real VS Code opened on a copy
// of examples/workspace. No test framework: each test is an async function checked with node:assert; `run`
// throws when any failed, which fails the VS Code run.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { FILES, listRuns } from '../../../extension/runs/runStore';
import type { RunSummary } from '../../../src/protocol';

const EXTENSION_ID = 'ulpt-studio.ulpt-studio';
const COMMANDS = ['ulpt.train', 'ulpt.trainFromConfig', 'ulpt.stop', 'ulpt.resume', 'ulpt.openPanel', 'ulpt.saveAdapter', 'ulpt.exportPeft'];

const workspace = () => process.env.ULPT_INTEGRATION_WORKSPACE ?? vscode.workspace.workspaceFolders![0].uri.fsPath;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, probe: () => T | null | undefined | false, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const v = probe();
    if (v) return v;
    await sleep(250);
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}.`);
}

function readSummary(runDir: string): RunSummary | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(runDir, FILES.summary), 'utf8')) as RunSummary;
  } catch {
    return null;
  }
}

const tests: [string, () => Promise<void>][] = [];
const test = (name: string, fn: () => Promise<void>) => tests.push([name, fn]);

test('the extension activates in the example workspace', async () => {
  const ext = vscode.extensions.getExtension(EXTENSION_ID);
  assert.ok(ext, `${EXTENSION_ID} is installed`);
  await ext.activate();
  assert.equal(ext.isActive, true);
});

test('every command is registered', async () => {
  const all = new Set(await vscode.commands.getCommands(true));
  for (const id of COMMANDS) assert.ok(all.has(id), `${id} is registered`);
});

test('the task provider offers a ulpt task for ulpt.config.json and resolves tasks.json entries', async () => {
  assert.ok(fs.existsSync(path.join(workspace(), 'ulpt.config.json')), 'the example has ulpt.config.json');
  const tasks = await vscode.tasks.fetchTasks({ type: 'ulpt' });
  const provided = tasks.find((t) => t.definition.config === 'ulpt.config.json');
  assert.ok(provided, `a task for ulpt.config.json among ${JSON.stringify(tasks.map((t) => t.name))}`);
  assert.ok(provided.execution instanceof vscode.CustomExecution, 'runs in a custom execution (pseudoterminal)');
  assert.equal(provided.source, 'ulpt');
});

test('trainFromConfig on the example creates a run folder that fills with metrics; Stop ends it with a checkpoint', async () => {
  const runDir = await vscode.commands.executeCommand<string | undefined>('ulpt.trainFromConfig', vscode.Uri.file(path.join(workspace(), 'ulpt.config.json')));
  assert.ok(runDir, 'the command returns the run folder');
  assert.equal(path.dirname(runDir), path.join(workspace(), '.ulpt', 'runs'));
  await waitFor('the first training step in metrics.jsonl', () => {
    const f = path.join(runDir, FILES.metrics);
    return fs.existsSync(f) && fs.readFileSync(f, 'utf8').includes('"type":"train"');
  }, 180_000);
  assert.ok(fs.existsSync(path.join(runDir, FILES.config)), 'config.json written');
  await vscode.commands.executeCommand('ulpt.stop', runDir);
  const summary = await waitFor('summary.json after Stop', () => readSummary(runDir), 120_000);
  assert.ok(summary.reason === 'stopped' || summary.reason === 'completed' || summary.reason === 'early-stopped', summary.reason);
  const run = listRuns(path.join(workspace(), '.ulpt', 'runs')).find((r) => r.dir === runDir);
  assert.ok(run, 'the run store lists the run');
  if (summary.reason === 'stopped') {
    assert.ok(fs.existsSync(path.join(runDir, FILES.checkpoint)), 'a stopped run keeps its checkpoint');
    assert.equal(run.resumable, true);
  }
});

test('a ulpt task with inline overrides trains to the end in its terminal', async () => {
  const folder = vscode.workspace.workspaceFolders![0];
  const def = { type: 'ulpt', config: 'ulpt.config.json', steps: 2, evalEvery: 1, checkpointEvery: 1, out: 'adapters/integration.ulpt' };
  const tasks = await vscode.tasks.fetchTasks({ type: 'ulpt' });
  const template = tasks.find((t) => t.definition.config === 'ulpt.config.json')!;
  const task = new vscode.Task(def, folder, 'integration', 'ulpt', template.execution, []);
  const ended = new Promise<void>((resolve) => {
    const d = vscode.tasks.onDidEndTask((e) => {
      if (e.execution.task.name === 'integration') {
        d.dispose();
        resolve();
      }
    });
  });
  const before = new Set(fs.existsSync(path.join(workspace(), '.ulpt', 'runs')) ? fs.readdirSync(path.join(workspace(), '.ulpt', 'runs')) : []);
  await vscode.tasks.executeTask(task);
  await Promise.race([ended, sleep(300_000).then(() => Promise.reject(new Error('the task did not end within 5 minutes')))]);
  const runs = path.join(workspace(), '.ulpt', 'runs');
  const fresh = fs.readdirSync(runs).filter((d) => !before.has(d));
  assert.equal(fresh.length, 1, `one new run folder (${JSON.stringify(fresh)})`);
  const summary = readSummary(path.join(runs, fresh[0]));
  assert.ok(summary, 'summary.json written');
  assert.equal(summary.steps, 2);
  assert.equal(summary.adapter, path.join(workspace(), 'adapters', 'integration.ulpt'));
});

test('Save Adapter with a target copies a valid adapter into the project', async () => {
  const runs = listRuns(path.join(workspace(), '.ulpt', 'runs')).filter((r) => r.adapters.best || r.adapters.final);
  assert.ok(runs.length, 'a run with an adapter');
  const target = path.join(workspace(), 'adapters', 'saved-by-test.ulpt');
  const saved = await vscode.commands.executeCommand<string | undefined>('ulpt.saveAdapter', runs[0].dir, target, { overwrite: true });
  assert.equal(saved, target);
  assert.ok(fs.statSync(target).size > 0);
  const out = await vscode.commands.executeCommand<string | undefined>('ulpt.exportPeft', target, path.join(workspace(), 'adapters', 'peft'));
  assert.ok(out && fs.existsSync(path.join(out, 'adapter_config.json')) && fs.existsSync(path.join(out, 'adapter_model.safetensors')));
});

export async function run(): Promise<void> {
  const failures: string[] = [];
  for (const [name, fn] of tests) {
    const t0 = Date.now();
    try {
      await fn();
      console.log(`ok - ${name} (${Date.now() - t0} ms)`);
    } catch (e) {
      failures.push(name);
      console.log(`not ok - ${name}\n  ${((e as Error).stack ?? String(e)).split('\n').join('\n  ')}`);
    }
  }
  console.log(`${tests.length - failures.length}/${tests.length} passed`);
  if (failures.length) throw new Error(`${failures.length} integration test(s) failed: ${failures.join('; ')}`);
}
