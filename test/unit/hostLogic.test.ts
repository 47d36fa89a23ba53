// The extension host's rules that need no VS Code: finding models and datasets, guessing the task, starting the
// trainer from the settings, reading config files and task definitions, the panel page's CSP, and log lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfigFile, parseJsonText, taskConfig } from '../../extension/commands/configFile';
import {
  configsUsingDataset, defaultRunName, defaultTemplate, findCachedModels, findValidationFile, guessTask, hfHubCacheDir, isConfigFileName, isDatasetFile, isModelFolder,
  METHOD_PRESETS, modelMaxPositions, verbalizer, WIZARD_DEFAULTS,
} from '../../extension/commands/discovery';
import { TokenizerClient } from '../../extension/commands/tokenizer';
import { configFileText, describeLabelWord, freeFileName, showTokens } from '../../extension/commands/wizardText';
import { failureLines, messageLines, notificationText } from '../../extension/runs/format';
import { trainerLaunch } from '../../extension/runs/launch';
import { RECENT_STOP_MS, stopTarget } from '../../extension/runs/stopTarget';
import { CATALOG, catalogFit, parameterText } from '../../src/hub/catalog';
import { backendMemoryProblem } from '../../src/models/loader';
import { adapterTitle } from '../../extension/runs/runStore';
import { contentSecurityPolicy, makeNonce, panelHtml } from '../../extension/views/panelHtml';
import type { TrainerMessage } from '../../src/protocol';
import { ROOT, TINY, tempDir } from './helpers';

function touch(file: string, text = ''): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

test('hfHubCacheDir resolves like huggingface_hub: HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME, XDG_CACHE_HOME, ~/.cache', () => {
  assert.equal(hfHubCacheDir({ HF_HUB_CACHE: '/a', HF_HOME: '/b' }, '/home/u'), '/a');
  assert.equal(hfHubCacheDir({ HUGGINGFACE_HUB_CACHE: '/old' }, '/home/u'), '/old');
  assert.equal(hfHubCacheDir({ HF_HOME: '/b', XDG_CACHE_HOME: '/x' }, '/home/u'), path.join('/b', 'hub'));
  assert.equal(hfHubCacheDir({ XDG_CACHE_HOME: '/x' }, '/home/u'), path.join('/x', 'huggingface', 'hub'));
  assert.equal(hfHubCacheDir({}, '/home/u'), path.join('/home/u', '.cache', 'huggingface', 'hub'));
  assert.equal(hfHubCacheDir({ HF_HOME: '~/hf' }, '/home/u'), path.join('/home/u', 'hf', 'hub'));
});

test('findCachedModels lists usable snapshots, the one refs/main names first', () => {
  const cache = tempDir();
  const repo = path.join(cache, 'models--openai-community--gpt2');
  for (const rev of ['aaa', 'bbb']) {
    touch(path.join(repo, 'snapshots', rev, 'config.json'), '{}');
    touch(path.join(repo, 'snapshots', rev, 'model.safetensors'));
  }
  touch(path.join(repo, 'refs', 'main'), 'bbb\n');
  touch(path.join(cache, 'models--x--weights-only', 'snapshots', 'c', 'pytorch_model.bin'));
  touch(path.join(cache, 'datasets--x--y', 'snapshots', 'd', 'config.json'));
  const found = findCachedModels(cache);
  assert.deepEqual(found.map((m) => [m.repo, m.revision]), [['openai-community/gpt2', 'bbb'], ['openai-community/gpt2', 'aaa']]);
  assert.deepEqual(findCachedModels(path.join(cache, 'missing')), []);
});

test('modelMaxPositions reads n_positions / max_position_embeddings', () => {
  const dir = tempDir();
  touch(path.join(dir, 'a', 'config.json'), JSON.stringify({ n_positions: 128 }));
  touch(path.join(dir, 'b', 'config.json'), JSON.stringify({ max_position_embeddings: 2048 }));
  assert.equal(modelMaxPositions(path.join(dir, 'a')), 128);
  assert.equal(modelMaxPositions(path.join(dir, 'b')), 2048);
  assert.equal(modelMaxPositions(path.join(dir, 'none')), null);
});

test('isModelFolder wants config.json and safetensors weights', () => {
  assert.equal(isModelFolder(TINY), true);
  assert.equal(isModelFolder(path.dirname(TINY)), false);
  assert.equal(isModelFolder('/nonexistent'), false);
});

test('dataset files: data extensions, minus model, tool and ULPT configs', () => {
  for (const f of ['data/train.jsonl', 'x.csv', 'y.tsv', 'z.parquet', 'records.json']) assert.equal(isDatasetFile(f), true, f);
  for (const f of ['model/config.json', 'model/tokenizer.json', 'package.json', 'ulpt.config.json', 'exp.ulpt.json', 'notes.txt', 'peft/adapter_config.json', 'sentiment-7f3a-metrics.csv']) assert.equal(isDatasetFile(f), false, f);
  assert.equal(isConfigFileName('/w/ulpt.config.json'), true);
  assert.equal(isConfigFileName('/w/big.ulpt.json'), true);
  assert.equal(isConfigFileName('/w/config.json'), false);
});

test('findValidationFile finds the sibling of a *train* file', () => {
  const all = ['/d/sentiment-train.jsonl', '/d/sentiment-validation.jsonl', '/d/qa_train.csv', '/d/qa_dev.csv', '/d/train.jsonl', '/d/test.jsonl', '/d/solo.jsonl'];
  assert.equal(findValidationFile('/d/sentiment-train.jsonl', all), '/d/sentiment-validation.jsonl');
  assert.equal(findValidationFile('/d/qa_train.csv', all), '/d/qa_dev.csv');
  assert.equal(findValidationFile('/d/train.jsonl', all), '/d/test.jsonl');
  assert.equal(findValidationFile('/d/solo.jsonl', all), undefined);
  assert.equal(findValidationFile('/d/constraint.jsonl', [...all, '/d/consvalidation.jsonl']), undefined, '"train" inside a word is not the train split');
});

test('guessTask: label → classification, target → generation, with the input field', () => {
  assert.deepEqual(guessTask(['input', 'label']), { type: 'classification', inputField: 'input', targetField: 'label', reason: 'the records have a "label" field' });
  assert.equal(guessTask(['text', 'target'])?.type, 'generation');
  assert.equal(guessTask(['text', 'target'])?.inputField, 'text');
  assert.equal(guessTask(['question', 'answer'])?.targetField, 'answer');
  assert.equal(guessTask(['a', 'b']), null);
});

test('method presets: ULPT r=2 first (recommended), then r=64, then vanilla; run names from them', () => {
  assert.deepEqual(METHOD_PRESETS.map((p) => [p.method, p.rank]), [['ulpt', 2], ['ulpt', 64], ['prompt-tuning', 0]]);
  assert.equal(defaultRunName('/d/sentiment-train.jsonl'), 'sentiment', 'the method and a suffix are added to the display name');
  assert.equal(defaultRunName('/d/train_reviews.csv'), 'reviews');
  assert.equal(defaultRunName('/d/x.csv'), 'x');
});

test('trainerLaunch: ulpt.nodePath wins; Electron runs as Node; tfjsNodePath reaches the child', () => {
  const electron = { execPath: '/opt/code/code', versions: { electron: '30.0.0', node: '20.11.0' }, env: { PATH: '/bin', ULPT_TFJS_NODE_PATH: '/stale' } };
  const desktop = trainerLaunch({ nodePath: '', tfjsNodePath: '', backend: 'auto' }, electron);
  assert.equal(desktop.execPath, '/opt/code/code');
  assert.equal(desktop.env.ELECTRON_RUN_AS_NODE, '1');
  assert.equal(desktop.env.ULPT_TFJS_NODE_PATH, undefined, 'an inherited value does not survive an empty setting');
  assert.equal(desktop.env.PATH, '/bin');
  const own = trainerLaunch({ nodePath: ' /usr/bin/node ', tfjsNodePath: '/gpu-env', backend: 'auto' }, { ...electron, env: { ELECTRON_RUN_AS_NODE: '1' } });
  assert.equal(own.execPath, '/usr/bin/node');
  assert.equal(own.env.ELECTRON_RUN_AS_NODE, undefined);
  assert.equal(own.env.ULPT_TFJS_NODE_PATH, '/gpu-env');
  const server = trainerLaunch({ nodePath: '', tfjsNodePath: '', backend: 'auto' }, { execPath: '/usr/bin/node', versions: { node: '20.0.0' }, env: {} });
  assert.equal(server.execPath, '/usr/bin/node');
  assert.equal(server.env.ELECTRON_RUN_AS_NODE, undefined);
});

test('parseJsonText names file, line and column', () => {
  assert.throws(() => parseJsonText('{\n  "a": 1,\n  }', 'ulpt.config.json'), /ulpt\.config\.json, line 3, column 3 is not valid JSON/);
  assert.deepEqual(parseJsonText('{"a":1}', 'x'), { a: 1 });
});

function workspace(): string {
  const dir = tempDir();
  fs.cpSync(TINY, path.join(dir, 'model'), { recursive: true });
  touch(path.join(dir, 'data', 'train.jsonl'), '{"input":"a","target":"b"}\n');
  return dir;
}

test('loadConfigFile resolves paths from the file, fills the backend from the setting, and names the run after out', () => {
  const dir = workspace();
  const file = touch(path.join(dir, 'ulpt.config.json'), JSON.stringify({ model: 'model', train: 'data/train.jsonl', steps: 5, out: 'adapters/demo.ulpt' }));
  const { config, runName } = loadConfigFile(file, { defaultBackend: 'wasm' });
  assert.equal(config.model, path.join(dir, 'model'));
  assert.equal(config.backend, 'wasm');
  assert.equal(runName, 'demo');
  const named = touch(path.join(dir, 'cpu.ulpt.json'), JSON.stringify({ model: 'model', train: 'data/train.jsonl', backend: 'cpu' }));
  assert.equal(loadConfigFile(named, { defaultBackend: 'wasm' }).config.backend, 'cpu', 'the file\'s backend beats the setting');
});

test('loadConfigFile reports schema problems and missing inputs with the file name', () => {
  const dir = workspace();
  const bad = touch(path.join(dir, 'bad.ulpt.json'), JSON.stringify({ model: 'model', train: 'data/train.jsonl', steps: 0, colour: 'red' }));
  assert.throws(() => loadConfigFile(bad, { defaultBackend: 'auto' }), (e: Error) => e.message.includes('bad.ulpt.json') && e.message.includes('steps') && e.message.includes('colour'));
  const missing = touch(path.join(dir, 'missing.ulpt.json'), JSON.stringify({ model: 'nomodel', train: 'data/none.jsonl' }));
  assert.throws(() => loadConfigFile(missing, { defaultBackend: 'auto' }), (e: Error) => e.message.includes(path.join(dir, 'nomodel')) && e.message.includes(path.join(dir, 'data', 'none.jsonl')));
  assert.throws(() => loadConfigFile(path.join(dir, 'absent.json'), { defaultBackend: 'auto' }), /does not exist/);
});

test('taskConfig: a config file with inline overrides (paths from the workspace folder), or everything inline', () => {
  const dir = workspace();
  fs.mkdirSync(path.join(dir, 'cfg'));
  touch(path.join(dir, 'cfg', 'ulpt.config.json'), JSON.stringify({ model: '../model', train: '../data/train.jsonl', steps: 5 }));
  const a = taskConfig({ type: 'ulpt', config: 'cfg/ulpt.config.json', steps: 7, out: 'adapters/t.ulpt' }, dir, 'cpu');
  assert.equal(a.config.steps, 7);
  assert.equal(a.config.model, path.join(dir, 'model'));
  assert.equal(a.config.out, path.join(dir, 'adapters', 't.ulpt'));
  assert.equal(a.runName, 't');
  const b = taskConfig({ type: 'ulpt', model: 'model', train: 'data/train.jsonl', method: 'prompt-tuning' }, dir, 'cpu');
  assert.equal(b.config.method, 'prompt-tuning');
  assert.equal(b.config.train, path.join(dir, 'data', 'train.jsonl'));
  assert.throws(() => taskConfig({ type: 'ulpt', steps: 3 }, dir, 'cpu'), /needs either "config".*or at least "model" and "train"/);
  const unsaved = taskConfig({ type: 'ulpt', config: 'cfg/ulpt.config.json' }, dir, 'cpu', () => JSON.stringify({ model: '../model', train: '../data/train.jsonl', steps: 11 }));
  assert.equal(unsaved.config.steps, 11, 'the text of an open editor wins over the file on disk');
});

test('panel page: strict CSP with one nonce, scripts and styles only from the webview origin', () => {
  const nonce = makeNonce();
  assert.match(nonce, /^[A-Za-z0-9]{16,}$/);
  assert.notEqual(nonce, makeNonce());
  const csp = contentSecurityPolicy('https://x.vscode-cdn.net', nonce);
  assert.equal(csp, `default-src 'none'; script-src 'nonce-${nonce}'; style-src https://x.vscode-cdn.net 'nonce-${nonce}'; img-src https://x.vscode-cdn.net data:; font-src https://x.vscode-cdn.net`);
  const html = panelHtml({ cspSource: 'https://x.vscode-cdn.net', nonce, scriptUri: 'https://x/webview.js', styleUri: 'https://x/webview.css', runDir: '/w/.ulpt/runs/a"b', title: '<run>' });
  assert.ok(html.includes(`<script nonce="${nonce}" src="https://x/webview.js"></script>`));
  assert.equal((html.match(/<script/g) ?? []).length, 1, 'no inline script');
  assert.ok(!/ style="/.test(html), 'no inline style attributes');
  assert.ok(html.includes('data-run-dir="/w/.ulpt/runs/a&quot;b"'));
  assert.ok(html.includes('&lt;run&gt;') && !html.includes('<run>'));
  for (const id of ['step', 'status', 'stop', 'save-adapter', 'export-csv', 'loss-chart', 'metric-chart', 'smoothing', 'log-scale', 'eta', 'backend', 'device', 'tokens-per-second', 'lr']) {
    assert.ok(html.includes(`id="${id}"`), id);
  }
  assert.ok(!/https?:\/\/(?!x)/.test(html.replace(/https:\/\/x[./]/g, '')), 'no remote resources');
});

test('messageLines: every trainer message has text; steps are thinned for the log', () => {
  const step = (s: number): TrainerMessage => ({ type: 'step', step: s, totalSteps: 100, etaMs: 5000, loss: 1.5, lr: 0.01, gradNorm: 1, tokens: 10, tokensPerSecond: 200, elapsedMs: 10 });
  assert.deepEqual(messageLines(step(3), { everyStep: false }), []);
  assert.match(messageLines(step(10), { everyStep: false })[0], /^step 10\/100 {2}loss 1\.5 {2}lr 1\.00e-2 {2}200 tok\/s {2}ETA 5s$/);
  assert.equal(messageLines(step(3), { everyStep: true }).length, 1);
  const evalLines = messageLines({ type: 'eval', step: 10, loss: 0.5, metrics: { accuracy: 0.75 }, metric: 'accuracy', value: 0.75, best: true }, { everyStep: false });
  assert.deepEqual(evalLines, ['eval @ step 10: loss 0.5, accuracy 0.75 (best so far)']);
  const started = messageLines({
    type: 'started', runDir: '/r', config: { method: 'ulpt', rank: 2, promptLength: 10 } as never, model: { name: 'tiny', modelType: 'gpt2', hiddenSize: 32 } as never,
    backend: { requested: 'auto', name: 'wasm', device: 'CPU, 2 threads', skipped: [{ name: 'tensorflow', reason: 'not installed' }] },
    trainableParameters: 84, vanillaParameters: 320, totalSteps: 100, startStep: 0, examples: { train: 10, validation: 2 }, warnings: [],
  }, { everyStep: false });
  assert.match(started.join('\n'), /backend wasm — CPU, 2 threads \(not used: tensorflow: not installed\)/);
  assert.deepEqual(failureLines({ message: 'The trainer process exited with code 1.', tail: ['x', 'y'] }), ['The trainer process exited with code 1.', 'last output:', '  x', '  y']);
  assert.deepEqual(failureLines({ message: 'crashed. Last output:\nx\ny', tail: ['x', 'y'] }), ['crashed. Last output:', 'x', 'y']);
});

test('wizard: label words follow the template with a separating space; defaults name the run after the dataset', () => {
  assert.equal(verbalizer('positive', 'input: {input} output:'), ' positive');
  assert.equal(verbalizer('  positive', 'input: {input} output:'), ' positive', 'one space, whatever was typed');
  assert.equal(verbalizer('positive', 'Review: {text}\nSentiment: '), 'positive', 'the template already ends in a space');
  assert.equal(defaultTemplate('text'), 'input: {text} output:');
  assert.deepEqual(METHOD_PRESETS.map((p) => p.lr), [0.03, 0.1, 0.03], 'the learning rates that worked in the README sweep');
  assert.equal(WIZARD_DEFAULTS.scaleInit, 'embedding');
});

test('wizard: the config files that train on a dataset are offered (paths relative to each file)', () => {
  const dir = tempDir();
  const data = touch(path.join(dir, 'data', 'sentiment-train.jsonl'));
  const a = touch(path.join(dir, 'ulpt.config.json'), JSON.stringify({ model: 'model', train: 'data/sentiment-train.jsonl' }));
  const b = touch(path.join(dir, 'sub', 'b.ulpt.json'), JSON.stringify({ model: 'm', train: '../data/sentiment-train.jsonl' }));
  const other = touch(path.join(dir, 'c.ulpt.json'), JSON.stringify({ model: 'm', train: 'data/reverse-train.jsonl' }));
  const broken = touch(path.join(dir, 'd.ulpt.json'), '{ nope');
  assert.deepEqual(configsUsingDataset([a, b, other, broken], data).map((c) => c.file), [a, b]);
});

test('wizard: the answers saved as a config file use paths relative to it and leave the backend to the settings', () => {
  const dir = tempDir();
  const text = configFileText({ model: path.join(dir, 'model'), train: path.join(dir, 'data', 't.jsonl'), out: path.join(dir, 'adapters', 's.ulpt'), backend: 'wasm', steps: 150, task: { type: 'classification' } }, dir);
  const saved = JSON.parse(text);
  assert.deepEqual(saved, { model: 'model', train: 'data/t.jsonl', out: 'adapters/s.ulpt', steps: 150, task: { type: 'classification' } });
  const file = touch(path.join(dir, 's.ulpt.json'), text);
  touch(path.join(dir, 'model', 'config.json'), '{}');
  touch(path.join(dir, 'data', 't.jsonl'), '{"input":"a","label":"b"}\n');
  assert.equal(loadConfigFile(file, { defaultBackend: 'cpu' }).config.train, path.join(dir, 'data', 't.jsonl'), 'it loads as a config');
});

test('wizard: tokens shown with visible spaces; a label word of several tokens is flagged', () => {
  assert.equal(showTokens(['input', ':', ' the']), '[input][:][␣the]');
  assert.equal(showTokens(['a', 'b', 'c'], 2), '[a][b]… (+1)');
  assert.deepEqual(describeLabelWord({ text: ' positive', tokens: { ids: [7], pieces: [' positive'] } }), { description: '→ " positive" · 1 token [␣positive]', warning: false });
  const two = describeLabelWord({ text: ' so so', tokens: { ids: [1, 2], pieces: [' so', ' so'] } });
  assert.equal(two.warning, true);
  assert.match(two.description, /2 tokens \[␣so\]\[␣so\] · several tokens/);
});

test('the tokenizer worker tokenizes off the main thread with the model folder\'s tokenizer', async () => {
  const client = new TokenizerClient(path.join(ROOT, 'dist', 'tokenize.js'));
  try {
    const [a, b] = await client.tokenize(TINY, ['word 1 =', ' 3']);
    assert.ok(a.ids.length >= 2 && a.ids.length === a.pieces.length);
    assert.equal(a.pieces.join(''), 'word 1 =');
    assert.equal(b.pieces.join(''), ' 3');
    await assert.rejects(client.tokenize(path.join(TINY, 'missing'), ['x']), /tokenizer\.json/);
  } finally {
    client.dispose();
  }
});

test('a bare Stop takes the only running run, but asks when another run was just stopped or several are live', () => {
  const a = { runDir: '/r/a', state: 'running' as const };
  const b = { runDir: '/r/b', state: 'running' as const };
  const now = 1_000_000;
  assert.equal(stopTarget([], null, now), null);
  assert.equal(stopTarget([a], null, now), a);
  assert.equal(stopTarget([a, b], null, now), 'ask');
  // Run A was asked to stop and has ended; Stop again must not silently stop B.
  assert.equal(stopTarget([b], { runDir: '/r/a', at: now - 5_000 }, now), 'ask');
  assert.equal(stopTarget([b], { runDir: '/r/a', at: now - RECENT_STOP_MS - 1 }, now), b, 'long after, the only run is meant');
  // A stopping and B running: ask. A alone, stopping: the second press ends A.
  const stopping = { runDir: '/r/a', state: 'stopping' as const };
  assert.equal(stopTarget([stopping, b], { runDir: '/r/a', at: now }, now), 'ask');
  assert.equal(stopTarget([stopping], { runDir: '/r/a', at: now }, now), stopping);
  assert.equal(stopTarget([{ runDir: '/r/c', state: 'ended' as const }], null, now), null);
});

test('the wizard proposes a free name: an adapter or config already there is never taken over', () => {
  const dir = tempDir('ulpt-free-');
  assert.equal(freeFileName(dir, 'sentiment', '.ulpt'), path.join(dir, 'sentiment.ulpt'));
  fs.writeFileSync(path.join(dir, 'sentiment.ulpt'), 'x');
  fs.writeFileSync(path.join(dir, 'sentiment-2.ulpt'), 'x');
  assert.equal(freeFileName(dir, 'sentiment', '.ulpt'), path.join(dir, 'sentiment-3.ulpt'));
  assert.equal(freeFileName(dir, 'sentiment', '.ulpt.json'), path.join(dir, 'sentiment.ulpt.json'));
});

test('a playground opened from a run is titled by the run, not "best.ulpt"', () => {
  const runs = path.join(tempDir('ulpt-title-'), '.ulpt', 'runs');
  const dir = path.join(runs, '2026-12-06_08-01-02_sentiment-7f3a');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ method: 'ulpt', rank: 2 }));
  assert.equal(adapterTitle(path.join(dir, 'best.ulpt')), 'sentiment · ULPT r=2 · 7f3a');
  assert.equal(adapterTitle(path.join(dir, 'final.ulpt')), 'sentiment · ULPT r=2 · 7f3a (final)');
  assert.equal(adapterTitle('/w/adapters/sentiment.ulpt'), 'sentiment.ulpt');
});

test('a config with three problems reads as a numbered list in a one-line notification', () => {
  const message = 'ulpt.config.json has 3 problems:\n  steps must be >= 1 (got 0)\n  lr must be > 0 (got -1)\n  task.type must be one of classification, generation';
  assert.equal(notificationText(message), 'ulpt.config.json has 3 problems: (1) steps must be >= 1 (got 0); (2) lr must be > 0 (got -1); (3) task.type must be one of classification, generation');
  assert.equal(notificationText('one line'), 'one line');
});

test('the wizard\'s catalog: each engine\'s fit from the architecture and size, by the loader\'s own WASM limit', () => {
  // The catalog says "WebGPU only" exactly where the loader refuses the model on WASM.
  for (const m of CATALOG) assert.equal(/WebGPU only/.test(catalogFit(m, null).builtin.note), backendMemoryProblem('wasm', m.parameters) !== null, m.id);
  const byId = new Map(CATALOG.map((m) => [m.id, m]));
  assert.equal(catalogFit(byId.get('HuggingFaceTB/SmolLM2-135M')!, null).builtin.note, 'built-in engine ✓');
  assert.match(catalogFit(byId.get('TinyLlama/TinyLlama-1.1B-Chat-v1.0')!, null).builtin.note, /WebGPU only \(too large for the WASM heap\)/);
  assert.match(catalogFit({ modelType: 'opt', parameters: 125e6 }, true).builtin.note, /opt is not one of its architectures/);
  assert.equal(catalogFit({ modelType: 'opt', parameters: 125e6 }, true).torch.ok, true);
  assert.equal(parameterText(1.24e9), '1.24 B');
  assert.equal(parameterText(135e6), '135 M');
  // The paper's backbone is offered; nothing pickled or unsupported is.
  assert.ok(byId.has('google-t5/t5-base'));
  // A Hub id in a saved config stays the id (the trainer takes it from the cache); folders become relative.
  const text = JSON.parse(configFileText({ model: 'HuggingFaceTB/SmolLM2-135M', train: '/w/data/t.jsonl' }, '/w'));
  assert.deepEqual(text, { model: 'HuggingFaceTB/SmolLM2-135M', train: 'data/t.jsonl' });
});
