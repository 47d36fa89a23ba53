// The adapter inspector (browser side): what the host read from the .ulpt file, the base-model search, the nearest
// vocabulary tokens and the evaluations, each drawn when its message arrives. A file that is not a usable adapter
// shows the host's message instead.
import './inspector.css';
import type { AdapterView, EmbeddingNorms, EvaluationReport, HostToInspector, InspectorToHost, ModelMatch, TokenNeighbourView } from '../../src/protocol';
import { assertNever } from '../../src/protocol';
import { evaluationProgress, formatNumber } from '../shared/series';
import { bars, envelopeChart, scatter } from '../shared/svg';
import { byId, h, setEnabled, vscodeApi } from '../shared/vscodeApi';

const vscode = vscodeApi<InspectorToHost>();

let adapter: AdapterView | null = null;
let embeddingNorms: EmbeddingNorms | null = null;

const pct = (v: number) => `${(v * 100).toFixed(1)} %`;
const bytes = (n: number) => (n < 10_000 ? `${n.toLocaleString('en-US')} bytes` : n < 2 ** 20 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 2 ** 20).toFixed(1)} MB`);

function dl(target: HTMLElement, pairs: [string, string | Node][]): void {
  target.replaceChildren(...pairs.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

function drawAdapter(a: AdapterView): void {
  byId('error').hidden = true;
  byId('content').hidden = false;
  byId('method').textContent = a.method === 'ulpt' ? `ULPT r=${a.r}` : 'prompt tuning';
  const params = byId('params');
  params.replaceChildren(h('strong', {}, 'Trainable parameters: '), a.parameters.text,
    h('span', { class: 'detail' }, ` — ${a.method === 'ulpt' ? `n·r${a.alignment ? ' + 2d' : ''}` : 'n·d'} against vanilla prompt tuning's n·d for the same ${a.n} tokens`));
  params.dataset.trainable = String(a.parameters.trainable);
  dl(byId('facts'), [
    ['method', a.method === 'ulpt' ? `ULPT (P = scale ⊙ (Z·A) + shift)${a.alignment ? '' : ', without scale/shift'}` : 'vanilla prompt tuning (P trained directly)'],
    ['virtual tokens n', String(a.n)],
    ['rank r', a.method === 'ulpt' ? String(a.r) : '—'],
    ['hidden size d', String(a.d)],
    ['projection seed', a.seed],
    ['file size', bytes(a.bytes)],
    ['task', `${a.task.type}: ${JSON.stringify(a.task.template)}${a.task.labels.length ? ` → ${a.task.labels.map((l) => `${l.name} (${JSON.stringify(l.word)})`).join(', ')}` : ''}`],
    ['data', a.training.filter((t) => t.label === 'train' || t.label === 'validation').map((t) => `${t.label} ${t.value}`).join(', ') || '—'],
    ['metrics', Object.keys(a.metrics).length ? Object.entries(a.metrics).map(([k, v]) => `${k} ${formatNumber(v)}`).join(', ') : '—'],
    ['trained', `${a.steps === null ? '?' : a.steps} steps on ${a.backend ?? '?'}`],
    ['created', new Date(a.created).toLocaleString()],
  ]);
  dl(byId('provenance'), [
    ['name', a.base.name],
    ['type', a.base.modelType],
    ['vocabulary', a.base.vocabSize.toLocaleString('en-US')],
    ['fingerprint', h('code', {}, a.base.fingerprint)],
  ]);
  const training = a.training.filter((t) => !['model', 'out'].includes(t.label));
  dl(byId('training'), training.map((t) => [t.label, t.value] as [string, string]));
  drawScatter(a);
  drawNorms();
  const scale = byId('scale');
  const shift = byId('shift');
  byId('scale-figure').hidden = !a.scale;
  byId('shift-figure').hidden = !a.shift;
  scale.replaceChildren(...(a.scale ? [envelopeChart(a.scale, { yLabel: 'scale', reference: 1 })] : []));
  shift.replaceChildren(...(a.shift ? [envelopeChart(a.shift, { yLabel: 'shift', reference: 0 })] : []));
  byId('notes').textContent = a.notes.join(' ');
  for (const id of ['try', 'evaluate', 'export']) setEnabled(byId(id), true);
  byId('actions').hidden = false;
}

function drawScatter(a: AdapterView): void {
  const box = byId('scatter');
  const s = a.scatter;
  if (!s) {
    box.replaceChildren();
    box.dataset.points = '0';
    byId('scatter-title').textContent = 'Z';
    return;
  }
  const title = s.source === 'z' ? (a.r === 1 ? 'Z (r = 1: one coordinate per virtual token)' : 'Z: one point per virtual token')
    : s.source === 'z-pca' ? `Z after PCA (r = ${a.r} → 2)` : `The prompt P after PCA (d = ${a.d} → 2)`;
  byId('scatter-title').textContent = title;
  const [xl, yl] = s.explained ? [`${s.axes[0]} (${pct(s.explained[0])} of the variance)`, `${s.axes[1]} (${pct(s.explained[1])})`] : s.axes;
  box.replaceChildren(scatter(s.points, { xLabel: xl, yLabel: yl }));
  box.dataset.points = String(s.points.length);
  byId('scatter-note').textContent = s.explained ? `The two axes carry ${pct(s.explained[0] + s.explained[1])} of the variance of the ${a.n} rows.` : '';
}

function drawNorms(): void {
  const a = adapter;
  const box = byId('norms');
  if (!a?.norms) {
    box.replaceChildren();
    byId('norms-note').textContent = a ? 'Not shown for a prompt this large.' : '';
    return;
  }
  const band = embeddingNorms ? { lo: embeddingNorms.p10, mid: embeddingNorms.median, hi: embeddingNorms.p90, label: `token embeddings: median ${formatNumber(embeddingNorms.median, 3)}` } : undefined;
  box.replaceChildren(bars(a.norms, { yLabel: '‖P_i‖', xLabel: 'virtual token', band }));
  box.dataset.bars = String(a.norms.length);
  const mean = a.norms.reduce((s, v) => s + v, 0) / a.norms.length;
  byId('norms-note').textContent = embeddingNorms
    ? `Mean ${formatNumber(mean, 3)}. The model's token embeddings: median ${formatNumber(embeddingNorms.median, 3)} (dashed line), 80 % of them between ${formatNumber(embeddingNorms.p10, 3)} and ${formatNumber(embeddingNorms.p90, 3)} (the band).`
    : `Mean ${formatNumber(mean, 3)}. The model's typical token-embedding norm appears once its folder is found.`;
}

function drawMatch(m: ModelMatch): void {
  const p = byId('model-match');
  p.dataset.state = m.state;
  const choose = byId('choose-model');
  choose.hidden = m.state === 'found' || m.state === 'searching';
  switch (m.state) {
    case 'searching':
      p.textContent = m.candidates ? `Looking for this model on this machine… (${m.candidates} candidate folder${m.candidates > 1 ? 's' : ''} to check)` : 'Looking for this model on this machine…';
      break;
    case 'found': {
      const where = { run: 'the run that trained it', workspace: 'the workspace', 'hf-cache': 'the Hugging Face cache', chosen: 'the folder you chose' }[m.where];
      p.replaceChildren('✓ Found in ', where, ': ', h('code', {}, m.label), ' (same embedding fingerprint).');
      break;
    }
    case 'not-found':
      p.textContent = `Not found: no model folder with this fingerprint in the workspace (${m.searched.workspace} model folder${m.searched.workspace === 1 ? '' : 's'}) or the Hugging Face cache at ${m.searched.cacheDir} (${m.searched.cache}); ${m.checked} had the right type and size and were checked. Nearest tokens, the playground and evaluations need it.`;
      byId('neighbours-note').textContent = 'Needs the base model.';
      break;
    case 'error':
      p.textContent = `Base model search: ${m.message}`;
      break;
    default:
      assertNever(m);
  }
}

function drawNeighbours(tokens: TokenNeighbourView[][], ms: number): void {
  const k = Math.max(0, ...tokens.map((t) => t.length));
  const head = h('tr', {}, h('th', {}, 'token'), h('th', { class: 'num' }, '‖P_i‖'), ...Array.from({ length: k }, (_, i) => h('th', {}, `#${i + 1}`)));
  const rows = tokens.map((row, i) => h('tr', { 'data-testid': 'neighbour-row' },
    h('td', {}, String(i)),
    h('td', { class: 'num' }, adapter?.norms ? formatNumber(adapter.norms[i], 3) : '—'),
    ...row.map((t) => h('td', { title: `id ${t.id}, cosine ${t.cosine.toFixed(4)}` }, h('code', {}, JSON.stringify(t.text)), h('span', { class: 'detail' }, ` ${t.cosine.toFixed(2)}`)))));
  byId('neighbours').replaceChildren(h('thead', {}, head), h('tbody', {}, ...rows));
  byId('neighbours-note').textContent = `By cosine similarity between each materialised virtual token and every row of the model's token-embedding matrix (${(ms / 1000).toFixed(1)} s in the playground process). Soft prompts rarely sit close to any word: low similarities are the usual finding.`;
}

function drawEvaluation(m: Extract<HostToInspector, { type: 'evaluation' }>): void {
  byId('evaluations-section').hidden = false;
  const progress = byId('evaluation-progress');
  if (m.state === 'running') {
    progress.textContent = `Evaluating on ${m.data}… ${evaluationProgress(m.done, m.total)}`;
    return;
  }
  if (m.state === 'failed') {
    progress.textContent = `Evaluation on ${m.data} failed: ${m.message}`;
    return;
  }
  progress.textContent = '';
  addReport(m.report);
}

function addReport(r: EvaluationReport): void {
  const table = byId('evaluations');
  const names = [...new Set([...Object.keys(r.with.metrics), ...Object.keys(r.without.metrics)])];
  if (!table.querySelector('thead')) table.append(h('thead', {}, h('tr', {}, h('th', {}, 'dataset'), h('th', { class: 'num' }, 'examples'), h('th', {}, ''), h('th', { class: 'num' }, 'loss'), h('th', {}, 'metrics'))));
  const metrics = (m: Record<string, number>) => names.map((n) => `${n} ${formatNumber(m[n])}`).join(', ');
  const body = table.querySelector('tbody') ?? table.appendChild(h('tbody'));
  body.append(
    h('tr', { 'data-testid': 'evaluation' }, h('td', {}, r.data.split(/[\\/]/).pop() ?? r.data), h('td', { class: 'num' }, String(r.examples)), h('td', {}, 'with the adapter'), h('td', { class: 'num' }, formatNumber(r.with.loss)), h('td', {}, metrics(r.with.metrics))),
    h('tr', {}, h('td', {}, ''), h('td', {}, ''), h('td', { class: 'detail' }, 'without'), h('td', { class: 'num detail' }, formatNumber(r.without.loss)), h('td', { class: 'detail' }, metrics(r.without.metrics))),
  );
}

window.addEventListener('message', (event: MessageEvent<HostToInspector>) => {
  const m = event.data;
  switch (m.type) {
    case 'adapter':
      adapter = m.adapter;
      drawAdapter(m.adapter);
      break;
    case 'invalid':
      adapter = null;
      byId('content').hidden = true;
      byId('error').hidden = false;
      byId('error-text').textContent = m.message;
      byId('method').textContent = 'not an adapter';
      for (const id of ['try', 'evaluate', 'export']) setEnabled(byId(id), false);
      byId('actions').hidden = true;
      break;
    case 'model':
      drawMatch(m.match);
      break;
    case 'neighbours':
      embeddingNorms = m.embeddingNorms;
      drawNeighbours(m.tokens, m.ms);
      drawNorms();
      break;
    case 'neighboursFailed':
      byId('neighbours-note').textContent = `Could not compute them: ${m.message}`;
      break;
    case 'evaluation':
      drawEvaluation(m);
      break;
    default:
      assertNever(m);
  }
  byId('app').dataset.ready = 'true';
});

byId('try').addEventListener('click', () => vscode.postMessage({ type: 'try' }));
byId('evaluate').addEventListener('click', () => vscode.postMessage({ type: 'evaluate' }));
byId('export').addEventListener('click', () => vscode.postMessage({ type: 'exportPeft' }));
byId('choose-model').addEventListener('click', () => vscode.postMessage({ type: 'chooseModel' }));

vscode.postMessage({ type: 'ready' });
