// The playground (host side): try an adapter on your own inputs or on dataset records and see the model's answer
// with the adapter next to the answer without it (for classification, every label's probability). One panel per
// adapter file; the answers come from the playground process, which loads the base model once and keeps it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { AdapterMeta } from '../../src/io/adapter';
import type { HostToPlayground, ModelMatch, PlaygroundInfo, PlaygroundResult, PlaygroundToHost } from '../../src/protocol';
import { assertNever } from '../../src/protocol';
import { pickAdapter, runAdapter } from '../commands/adapters';
import { adapterTitle } from '../runs/runStore';
import { UserError, type Studio } from '../studio';
import { readAdapterView } from './adapterView';
import { pickDataset } from './datasets';
import { html, pageHtml, webviewOptions } from './pageHtml';
import { reportError, reporting } from './panel';
import type { PlaygroundService } from './playgroundService';

const VIEW_TYPE = 'ulpt.playground';
/** Records offered from a dataset (the quick pick shows them all). */
const RECORD_LIMIT = 500;
const MESSAGES = new Set<PlaygroundToHost['type']>(['ready', 'run', 'pickRecords', 'chooseModel', 'clear']);

function isMessage(m: unknown): m is PlaygroundToHost {
  if (!m || typeof m !== 'object' || !MESSAGES.has((m as PlaygroundToHost).type)) return false;
  return (m as PlaygroundToHost).type !== 'run' || typeof (m as { input?: unknown }).input === 'string';
}

function body(file: string): string {
  return `  <main id="app" data-testid="playground" data-ready="false" data-file="${html(file)}">
    <header class="title">
      <h1 id="name">${html(path.basename(file))}</h1>
      <span id="task" class="tag" data-testid="task"></span>
      <span id="model" class="detail" data-testid="model" data-state="searching"></span>
      <button id="choose-model" class="secondary" data-testid="choose-model" hidden>Locate the Model Folder…</button>
    </header>
    <div id="error" class="message" data-testid="error" role="alert" hidden><p id="error-text"></p></div>
    <section class="composer">
      <label for="input" id="input-label">Input</label>
      <textarea id="input" data-testid="input" rows="3" placeholder="Type an input, then Run (Ctrl+Enter)"></textarea>
      <p id="template" class="detail"></p>
      <div class="actions">
        <button id="run" data-testid="run" disabled>Run</button>
        <button id="records" class="secondary" data-testid="pick-records" disabled>Pick Records from a Dataset…</button>
        <button id="clear" class="secondary" data-testid="clear">Clear</button>
        <span id="busy" class="detail" data-testid="busy" role="status"></span>
      </div>
    </section>
    <section><ol id="results" class="results" data-testid="results" data-count="0" reversed></ol></section>
  </main>`;
}

export class Playground {
  private static readonly panels = new Map<string, Playground>();

  static register(context: vscode.ExtensionContext, studio: Studio, service: PlaygroundService): void {
    context.subscriptions.push(
      vscode.window.registerWebviewPanelSerializer(VIEW_TYPE, {
        async deserializeWebviewPanel(panel: vscode.WebviewPanel, state: unknown) {
          const file = (state as { file?: unknown } | undefined)?.file;
          if (typeof file !== 'string' || !fs.existsSync(file) || !vscode.workspace.isTrusted) return panel.dispose();
          Playground.adopt(studio, service, panel, file);
        },
      }),
      vscode.commands.registerCommand('ulpt.tryAdapter', async (arg?: unknown) => {
        try {
          const file = await adapterFile(studio, arg);
          if (file) Playground.show(studio, service, file);
          return file;
        } catch (e) {
          await reportError(studio, e);
          return undefined;
        }
      }),
      { dispose: () => [...Playground.panels.values()].forEach((p) => p.dispose()) },
    );
  }

  static show(studio: Studio, service: PlaygroundService, file: string): Playground {
    studio.assertTrusted(); // it loads the model and data this workspace points to, in a process, as training does
    const key = path.resolve(file);
    const open = Playground.panels.get(key);
    if (open) {
      open.panel.reveal();
      return open;
    }
    const panel = vscode.window.createWebviewPanel(VIEW_TYPE, `Try: ${adapterTitle(key)}`, vscode.ViewColumn.Active, { ...webviewOptions(studio.context.extensionUri), retainContextWhenHidden: false });
    return Playground.adopt(studio, service, panel, key);
  }

  private static adopt(studio: Studio, service: PlaygroundService, panel: vscode.WebviewPanel, file: string): Playground {
    const p = new Playground(studio, service, panel, path.resolve(file));
    Playground.panels.set(p.file, p);
    return p;
  }

  private ready = false;
  private meta: AdapterMeta | null = null;
  private info: PlaygroundInfo | null = null;
  private error: string | null = null;
  private match: ModelMatch = { state: 'searching', candidates: 0 };
  private found: Promise<ModelMatch>;
  private busy: string | null = null;
  private results: PlaygroundResult[] = [];
  private nextId = 1;
  private readonly disposables: vscode.Disposable[] = [];
  private disposed = false;

  private constructor(private readonly studio: Studio, private readonly service: PlaygroundService, readonly panel: vscode.WebviewPanel, readonly file: string) {
    const ext = studio.context.extensionUri;
    panel.webview.options = webviewOptions(ext);
    panel.iconPath = vscode.Uri.joinPath(ext, 'media', 'panel.svg');
    panel.webview.html = pageHtml({ webview: panel.webview, extensionUri: ext, bundle: 'playground', title: `Try ${path.basename(file)}`, body: body(file) });
    this.disposables.push(
      panel.webview.onDidReceiveMessage((m: unknown) => this.onMessage(m)),
      panel.onDidChangeViewState(() => {
        if (!panel.visible) this.ready = false;
      }),
      panel.onDidDispose(() => this.dispose()),
    );
    const reading = readAdapterView(file);
    if (reading.ok) {
      this.meta = reading.meta;
      const t = reading.meta.task;
      this.info = { file, name: path.basename(file), task: t.type, template: t.template, inputField: t.input_field, labels: t.labels?.names ?? [] };
      service.warmUp();
      this.found = this.findModel();
    } else {
      this.error = reading.message;
      // Not an adapter: no model is looked for (the page shows the file's error, not "looking for the base model…").
      this.match = { state: 'error', message: reading.message };
      this.found = Promise.resolve(this.match);
    }
  }

  /** Looks for the base model at once (its process loads it, so the first answer does not wait for that). */
  private async findModel(): Promise<ModelMatch> {
    try {
      this.match = await this.service.models.find(this.file, this.meta!, (m) => this.setMatch(m));
    } catch (e) {
      this.match = { state: 'error', message: (e as Error).message };
    }
    this.setMatch(this.match);
    return this.match;
  }

  private setMatch(m: ModelMatch): void {
    this.match = m;
    this.post({ type: 'model', match: m });
  }

  private post(m: HostToPlayground): void {
    if (this.ready && !this.disposed) void this.panel.webview.postMessage(m);
  }

  private setBusy(what: string | null): void {
    this.busy = what;
    this.post({ type: 'busy', what });
  }

  /** Answers inputs with and without the adapter; each result is shown as it comes. */
  private async run(inputs: { input: string; expected: string | null }[]): Promise<void> {
    if (!inputs.length) return;
    const match = await this.found;
    if (match.state !== 'found') {
      throw new UserError(match.state === 'error' ? match.message : `The base model of this adapter (${this.meta?.base_model.name}) was not found: locate its folder first.`);
    }
    this.setBusy(inputs.length > 1 ? `answering ${inputs.length} inputs…` : 'answering…');
    try {
      for (const item of inputs) {
        if (this.disposed) return;
        const r = await this.service.process().ask({ type: 'predict', model: match.dir, adapter: this.file, inputs: [item.input] });
        const a = r.results[0];
        const result: PlaygroundResult = { id: this.nextId++, input: item.input, expected: item.expected, with: a.with, without: a.without, ms: a.ms };
        this.results.push(result);
        this.post({ type: 'result', result });
      }
    } catch (e) {
      this.post({ type: 'failed', message: (e as Error).message });
    } finally {
      this.setBusy(null);
    }
  }

  private async pickRecords(): Promise<void> {
    if (!this.meta || !this.info) return;
    const data = await pickDataset(this.meta, 'Pick records from which dataset?');
    if (!data) return;
    this.setBusy(`reading ${path.basename(data)}…`);
    let records;
    try {
      records = await this.service.process().ask({ type: 'records', file: data, inputField: this.info.inputField, targetField: this.meta.task.target_field, limit: RECORD_LIMIT });
    } finally {
      this.setBusy(null);
    }
    const picked = await vscode.window.showQuickPick(
      records.records.map((r) => ({ label: r.input.replace(/\s+/g, ' ').slice(0, 120), description: r.expected ?? '', detail: r.where, record: r })),
      { canPickMany: true, placeHolder: `Records of ${path.basename(data)} to run (${records.records.length}${records.total > records.records.length ? ` of ${records.total}` : ''})`, matchOnDescription: true },
    );
    if (!picked?.length) return;
    await this.run(picked.map((p) => ({ input: p.record.input, expected: p.record.expected })));
  }

  private onMessage(raw: unknown): void {
    if (!isMessage(raw)) return;
    const m = raw;
    const act = (f: () => unknown) => reporting(this.studio, f);
    switch (m.type) {
      case 'ready':
        this.ready = true;
        this.post({ type: 'state', adapter: this.info, error: this.error, model: this.match, busy: this.busy, results: this.results });
        return;
      case 'run':
        if (m.input.trim()) void act(() => this.run([{ input: m.input, expected: null }]));
        return;
      case 'pickRecords':
        void act(() => this.pickRecords());
        return;
      case 'chooseModel':
        void act(async () => {
          if (!this.meta) return;
          const match = await this.service.models.choose(this.meta);
          if (!match) return;
          this.found = Promise.resolve(match);
          this.setMatch(match);
        });
        return;
      case 'clear':
        this.results = [];
        this.post({ type: 'state', adapter: this.info, error: this.error, model: this.match, busy: this.busy, results: [] });
        return;
      default:
        assertNever(m);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    Playground.panels.delete(this.file);
    for (const d of this.disposables.splice(0)) d.dispose();
    this.panel.dispose();
  }
}

/** The adapter to try: a .ulpt file, a run folder's adapter, or a pick. */
async function adapterFile(studio: Studio, arg: unknown): Promise<string | undefined> {
  const p = typeof arg === 'string' ? arg : arg instanceof vscode.Uri ? arg.fsPath : undefined;
  if (p && fs.existsSync(p) && fs.statSync(p).isDirectory()) {
    const a = runAdapter(p);
    if (!a) throw new UserError(`${path.basename(p)} has no adapter yet: it appears after the first evaluation, or when the run ends.`);
    return a.file;
  }
  if (p) return p;
  const picked = await pickAdapter(studio, 'Try which adapter?', 'Try');
  if (!picked) return undefined;
  if (picked.runDir) return runAdapter(picked.runDir)?.file;
  return picked.file;
}

