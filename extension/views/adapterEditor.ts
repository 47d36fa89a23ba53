// The adapter inspector (host side): the default, read-only custom editor for *.ulpt files. The file is read and
// checked here (adapterView.ts, bounded work; a bad file becomes a message in the editor); everything that needs
// the model — finding it by fingerprint, nearest tokens, evaluations — goes to the playground process.
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { AdapterMeta } from '../../src/io/adapter';
import type { EvaluationReport, HostToInspector, InspectorToHost, ModelMatch } from '../../src/protocol';
import { assertNever } from '../../src/protocol';
import { pickDataset } from './datasets';
import { readAdapterView, type AdapterReading } from './adapterView';
import { html, pageHtml, webviewOptions } from './pageHtml';
import { reporting } from './panel';
import type { PlaygroundService } from './playgroundService';
import type { Studio } from '../studio';
import { evaluationProgress } from '../../webview/shared/series';

/** Nearest vocabulary tokens shown per virtual token. */
const NEIGHBOURS = 5;

const INSPECTOR_MESSAGES = new Set<InspectorToHost['type']>(['ready', 'try', 'evaluate', 'exportPeft', 'chooseModel']);

function body(file: string): string {
  return `  <main id="app" data-testid="inspector" data-ready="false" data-file="${html(file)}">
    <header class="title">
      <h1 id="name">${html(path.basename(file))}</h1>
      <span id="method" class="tag" data-testid="method"></span>
      <div id="actions" class="actions" hidden>
        <button id="try" data-testid="try" disabled>Try in Playground…</button>
        <button id="evaluate" class="secondary" data-testid="evaluate" disabled>Evaluate on a Dataset…</button>
        <button id="export" class="secondary" data-testid="export-peft" disabled>Export to PEFT…</button>
      </div>
    </header>
    <div id="error" class="message" data-testid="error" role="alert" hidden>
      <p><strong>This file cannot be shown as an adapter.</strong></p>
      <p id="error-text" class="error-text" data-testid="error-text"></p>
      <p class="detail">A .ulpt adapter is a safetensors file written by ULPT Studio (<code>ulpt train</code>, Save Adapter). This one may be truncated or damaged, or it is another kind of file with the same extension. It was not changed.</p>
    </div>
    <div id="content" hidden>
      <p id="params" class="params" data-testid="params"></p>
      <div class="columns">
        <section class="facts" aria-label="Adapter"><dl id="facts" data-testid="facts"></dl></section>
        <section aria-label="Base model"><h2>Base model</h2><dl id="provenance" data-testid="provenance"></dl>
          <p id="model-match" class="detail" data-testid="model-match" data-state="searching"></p>
          <button id="choose-model" class="secondary" data-testid="choose-model" hidden>Locate the Model Folder…</button></section>
      </div>
      <section id="evaluations-section" hidden><h2>Evaluations</h2><div id="evaluation-progress" class="detail" data-testid="evaluation-progress"></div>
        <table id="evaluations" class="grid" data-testid="evaluations"></table></section>
      <section class="pictures">
        <figure class="picture"><figcaption id="scatter-title">Z</figcaption><div id="scatter" class="svg-box" data-testid="scatter" data-points="0"></div><p id="scatter-note" class="detail"></p></figure>
        <figure class="picture"><figcaption>Norm of each virtual token</figcaption><div id="norms" class="svg-box" data-testid="norms" data-bars="0"></div><p id="norms-note" class="detail"></p></figure>
        <figure class="picture" id="scale-figure"><figcaption>scale per dimension</figcaption><div id="scale" class="svg-box" data-testid="scale"></div></figure>
        <figure class="picture" id="shift-figure"><figcaption>shift per dimension</figcaption><div id="shift" class="svg-box" data-testid="shift"></div></figure>
      </section>
      <section aria-label="Nearest vocabulary tokens"><h2>Nearest vocabulary tokens</h2>
        <p id="neighbours-note" class="detail" data-testid="neighbours-note">Waiting for the base model…</p>
        <table id="neighbours" class="grid" data-testid="neighbours"></table></section>
      <details class="training"><summary>Training settings recorded in the file</summary><dl id="training" data-testid="training"></dl></details>
      <p id="notes" class="detail"></p>
    </div>
  </main>`;
}

class AdapterDocument implements vscode.CustomDocument {
  constructor(readonly uri: vscode.Uri) {}
  dispose(): void {}
}

export class AdapterEditor implements vscode.CustomReadonlyEditorProvider<AdapterDocument> {
  static readonly viewType = 'ulpt.adapterInspector';

  static register(context: vscode.ExtensionContext, studio: Studio, service: PlaygroundService): void {
    context.subscriptions.push(
      vscode.window.registerCustomEditorProvider(AdapterEditor.viewType, new AdapterEditor(studio, service), { supportsMultipleEditorsPerDocument: true }),
    );
  }

  private constructor(private readonly studio: Studio, private readonly service: PlaygroundService) {}

  openCustomDocument(uri: vscode.Uri): AdapterDocument {
    return new AdapterDocument(uri);
  }

  resolveCustomEditor(document: AdapterDocument, panel: vscode.WebviewPanel): void {
    new Inspector(this.studio, this.service, document.uri, panel);
  }
}

/** One open inspector: what it has learnt so far is kept here, so a reloaded page gets it all again. */
class Inspector {
  private readonly file: string;
  private ready = false;
  private meta: AdapterMeta | null = null;
  private reading: AdapterReading = { ok: false, message: 'not read yet' };
  private match: ModelMatch = { state: 'searching', candidates: 0 };
  private neighbours: Extract<HostToInspector, { type: 'neighbours' | 'neighboursFailed' }> | null = null;
  private readonly evaluations: Extract<HostToInspector, { type: 'evaluation' }>[] = [];
  private readonly disposables: vscode.Disposable[] = [];
  private disposed = false;
  private generation = 0;

  constructor(private readonly studio: Studio, private readonly service: PlaygroundService, uri: vscode.Uri, readonly panel: vscode.WebviewPanel) {
    this.file = uri.fsPath;
    const ext = studio.context.extensionUri;
    panel.webview.options = webviewOptions(ext);
    panel.webview.html = pageHtml({ webview: panel.webview, extensionUri: ext, bundle: 'inspector', title: path.basename(this.file), body: body(this.file) });
    const watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(path.dirname(this.file)), path.basename(this.file)));
    this.disposables.push(
      watcher,
      watcher.onDidChange(() => this.reload()),
      watcher.onDidCreate(() => this.reload()),
      panel.webview.onDidReceiveMessage((m: unknown) => this.onMessage(m)),
      panel.onDidChangeViewState(() => {
        if (!panel.visible) this.ready = false;
      }),
      panel.onDidDispose(() => this.dispose()),
    );
    this.reload(false);
  }

  private post(m: HostToInspector): void {
    if (this.ready && !this.disposed) void this.panel.webview.postMessage(m);
  }

  /** Reads the file again (it changed on disk); the model search starts over only if the base model changed. */
  private reload(send = true): void {
    const before = this.meta?.base_model.fingerprint;
    this.reading = readAdapterView(this.file);
    this.meta = this.reading.ok ? this.reading.meta : null;
    if (send) this.postAdapter();
    if (this.meta && this.meta.base_model.fingerprint !== before) void this.findModel();
  }

  private postAdapter(): void {
    const reading = this.reading;
    if (!reading.ok) return this.post({ type: 'invalid', file: this.file, message: reading.message });
    this.post({ type: 'adapter', adapter: reading.view });
  }

  private postAll(): void {
    this.postAdapter();
    if (!this.meta) return;
    this.post({ type: 'model', match: this.match });
    if (this.neighbours) this.post(this.neighbours);
    for (const e of this.evaluations) this.post(e);
  }

  private setMatch(match: ModelMatch): void {
    this.match = match;
    this.post({ type: 'model', match });
  }

  private async findModel(): Promise<void> {
    const meta = this.meta;
    if (!meta) return;
    const gen = ++this.generation;
    this.neighbours = null;
    if (!vscode.workspace.isTrusted) {
      // The file itself is read and shown; loading models and data in a process waits for trust, as training does.
      this.setMatch({ state: 'error', message: 'not done, because this workspace is not trusted. ULPT Studio loads no model for it; trust the workspace to find the base model, see the nearest tokens, and try or evaluate the adapter.' });
      return;
    }
    try {
      const match = await this.service.models.find(this.file, meta, (m) => gen === this.generation && this.setMatch(m));
      if (gen !== this.generation) return;
      this.setMatch(match);
      if (match.state === 'found') await this.findNeighbours(match.dir, gen);
    } catch (e) {
      if (gen === this.generation) this.setMatch({ state: 'error', message: (e as Error).message });
    }
  }

  private async findNeighbours(modelDir: string, gen: number): Promise<void> {
    try {
      const r = await this.service.process().ask({ type: 'neighbours', model: modelDir, adapter: this.file, k: NEIGHBOURS });
      if (gen !== this.generation) return;
      this.neighbours = { type: 'neighbours', tokens: r.tokens, embeddingNorms: r.embeddingNorms, ms: r.ms };
    } catch (e) {
      if (gen !== this.generation) return;
      this.neighbours = { type: 'neighboursFailed', message: (e as Error).message };
    }
    this.post(this.neighbours);
  }

  private async evaluate(): Promise<void> {
    if (!this.meta) return;
    this.studio.assertTrusted();
    if (this.match.state !== 'found') {
      void vscode.window.showInformationMessage(`ULPT: evaluating needs the base model (${this.meta.base_model.name}); ${this.match.state === 'searching' ? 'it is still being looked for.' : 'locate its folder first.'}`);
      return;
    }
    const data = await pickDataset(this.meta, 'Evaluate the adapter on which dataset?');
    if (!data) return;
    const model = this.match.dir;
    const proc = this.service.dedicated();
    const show = (m: Extract<HostToInspector, { type: 'evaluation' }>) => {
      const i = this.evaluations.findIndex((e) => e.state === 'running' && (m.state === 'done' ? e.data === m.report.data : e.data === m.data));
      if (i >= 0) this.evaluations.splice(i, 1);
      this.evaluations.push(m);
      this.post(m);
    };
    show({ type: 'evaluation', state: 'running', data, done: 0, total: 0 });
    try {
      await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `ULPT: evaluating ${path.basename(this.file)} on ${path.basename(data)}`, cancellable: true }, async (progress, token) => {
        token.onCancellationRequested(() => this.service.release(proc));
        let last = 0;
        const r = await proc.ask({ type: 'evaluate', model, adapter: this.file, data }, (done, total) => {
          progress.report({ increment: ((done - last) / total) * 100, message: evaluationProgress(done, total) });
          last = done;
          show({ type: 'evaluation', state: 'running', data, done, total });
        });
        show({ type: 'evaluation', state: 'done', report: r.report });
        this.logEvaluation(r.report);
      });
    } catch (e) {
      show({ type: 'evaluation', state: 'failed', data, message: (e as Error).message });
    } finally {
      this.service.release(proc);
    }
  }

  private logEvaluation(r: EvaluationReport): void {
    const fmt = (m: Record<string, number>) => Object.entries(m).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ');
    this.studio.output.info(`evaluated ${this.file} on ${r.data} (${r.examples} examples): with the adapter ${fmt(r.with.metrics)}, loss ${r.with.loss.toFixed(4)}; without ${fmt(r.without.metrics)}, loss ${r.without.loss.toFixed(4)}`);
  }

  private onMessage(raw: unknown): void {
    if (!raw || typeof raw !== 'object' || !INSPECTOR_MESSAGES.has((raw as InspectorToHost).type)) return;
    const m = raw as InspectorToHost;
    const run = (f: () => unknown) => reporting(this.studio, f);
    switch (m.type) {
      case 'ready':
        this.ready = true;
        this.postAll();
        return;
      case 'try':
        void run(() => vscode.commands.executeCommand('ulpt.tryAdapter', vscode.Uri.file(this.file)));
        return;
      case 'evaluate':
        void run(() => this.evaluate());
        return;
      case 'exportPeft':
        void run(() => vscode.commands.executeCommand('ulpt.exportPeft', vscode.Uri.file(this.file)));
        return;
      case 'chooseModel':
        void run(async () => {
          if (!this.meta) return;
          this.studio.assertTrusted();
          const match = await this.service.models.choose(this.meta);
          if (!match) return;
          const gen = ++this.generation;
          this.setMatch(match);
          if (match.state === 'found') await this.findNeighbours(match.dir, gen);
        });
        return;
      default:
        assertNever(m);
    }
  }

  private dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.generation++;
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
