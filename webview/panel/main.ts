// The training panel (browser side). It holds no truth of its own: on load it sends `ready`, draws the full state
// the host answers with (read from the run folder), then applies deltas. Smoothing and scale are view settings,
// kept in the webview state together with the run folder so a reload (or the panel serializer) finds the run.
import 'uplot/dist/uPlot.min.css';
import './panel.css';
import { provideVSCodeDesignSystem, vsCodeButton, vsCodeCheckbox, vsCodeProgressRing } from '@vscode/webview-ui-toolkit';
import type { BaselinePoint, EvalPoint, HostToWebview, PanelState, RunHeader, RunPoints, StepPoint, WebviewToHost } from '../../src/protocol';
import { assertNever } from '../../src/protocol';
import { Chart, type SeriesSpec } from '../shared/charts';
import { etaFromPoints, fitRange, formatDuration, formatNumber, lossColumns, mergeByStep, metricColumns, modelLabel, recentThroughput, STATUS_TEXT } from '../shared/series';

// No vscode-tag: its template sets an inline style attribute, which the panel's CSP (rightly) refuses.
provideVSCodeDesignSystem().register(vsCodeButton(), vsCodeCheckbox(), vsCodeProgressRing());

interface VsCodeApi {
  postMessage(message: WebviewToHost): void;
  getState(): PanelState | undefined;
  setState(state: PanelState): void;
}
declare function acquireVsCodeApi(): VsCodeApi;
const vscode = acquireVsCodeApi();

const el = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const app = el('app');
const saved = vscode.getState();
const ui = {
  runDir: app.dataset.runDir || saved?.runDir || '',
  smoothing: saved?.smoothing ?? 0.6,
  logScale: saved?.logScale ?? false,
};
const persist = () => vscode.setState({ runDir: ui.runDir, smoothing: ui.smoothing, logScale: ui.logScale });
persist();

// ---- State (a copy of what the host sent)

let run: RunHeader | null = null;
let train: StepPoint[] = [];
let evals: EvalPoint[] = [];
let baseline: BaselinePoint | null = null;

// ---- Charts

const lossSeries = (withBaseline: boolean): SeriesSpec[] => [
  { label: 'train loss', color: 0, width: 1, alpha: 0.3, format: (v) => formatNumber(v) },
  { label: 'smoothed', color: 0, width: 2, format: (v) => formatNumber(v) },
  { label: 'eval loss', color: 1, width: 1.5, points: true, spanGaps: true, format: (v) => formatNumber(v) },
  // A reference: the y range fits the curves, so a far higher un-prompted loss does not flatten them.
  ...(withBaseline ? [{ label: 'un-prompted', color: -1, width: 1, dash: [4, 4], spanGaps: true, reference: true, format: (v: number) => formatNumber(v) }] : []),
];
// Metrics are often almost equal (accuracy and macro-F1 on a balanced set): each later one is drawn thinner, dashed
// and with smaller points over the earlier ones, so every metric stays visible where they coincide.
const metricStyle = (i: number) => ({ width: Math.max(1, 3 - i), pointSize: Math.max(3, 8 - 2 * i), dash: i === 0 ? undefined : [6, 3] });
const metricSeries = (names: string[], withBaseline: boolean): SeriesSpec[] => [
  ...names.map((n, i) => ({ label: n, color: i, ...metricStyle(i), points: true, spanGaps: true, format: (v: number) => formatNumber(v) })),
  ...(withBaseline ? names.map((n, i) => ({ label: `${n} (un-prompted)`, color: i, width: 1, dash: [2, 4], spanGaps: true, format: (v: number) => formatNumber(v) })) : []),
];

const lossEl = el('loss-chart');
const metricEl = el('metric-chart');
const lossChart = new Chart(lossEl, { yLabel: 'loss', series: lossSeries(false) });
const metricChart = new Chart(metricEl, { yLabel: 'metric', series: [], yRange: [0, 1] });
lossChart.setLogScale(ui.logScale);
let lossKey = 'false';
let metricKey = '';

function drawCharts(): void {
  const key = String(!!baseline);
  if (key !== lossKey) {
    lossKey = key;
    lossChart.setSeries(lossSeries(!!baseline));
  }
  const total = run?.config?.steps ?? null;
  lossChart.setXMax(total);
  metricChart.setXMax(total);
  const loss = lossColumns(train, evals, ui.smoothing, baseline, ui.logScale);
  lossChart.setData(baseline ? loss : [loss[0], loss[1], loss[2], loss[3]]);
  // Say where the un-prompted loss is when the fitted range leaves it out.
  const range = fitRange(loss, (i) => i !== 4);
  const above = !ui.logScale && baseline && range && baseline.loss > range[1];
  el('loss-title').textContent = above && baseline ? `Loss (un-prompted model: ${formatNumber(baseline.loss)}, above the chart)` : 'Loss';
  el('loss-section').hidden = train.length === 0 && evals.length === 0;
  // The chart controls only once there is a chart (a run that failed before its first step has none).
  el('controls').hidden = el('loss-section').hidden;
  el('metric-section').hidden = evals.length === 0;
  lossEl.dataset.points = String(train.length);
  lossEl.dataset.evalPoints = String(evals.length);
  lossEl.dataset.scale = ui.logScale ? 'log' : 'linear';
  lossEl.dataset.smoothing = ui.smoothing.toFixed(2);

  const { names, columns } = metricColumns(evals, baseline);
  const mKey = `${names.join(',')}|${!!baseline}`;
  if (mKey !== metricKey) {
    metricKey = mKey;
    metricChart.setSeries(metricSeries(names, !!baseline));
  }
  metricChart.setData(baseline ? columns : (columns.slice(0, 1 + names.length) as typeof columns));
  metricEl.dataset.points = String(evals.length);
  metricEl.dataset.metrics = names.join(',');
  const primary = evals.at(-1)?.metric;
  el('metric-title').textContent = primary ? `Evaluation (${names.join(', ')}; best picked by ${primary})` : 'Evaluation';
}

// ---- Text, buttons

/** Sets a value; the full text is also the tooltip (the panel wraps long values, but a narrow one still helps). */
const set = (id: string, text: string) => {
  const e = el(id);
  e.textContent = text;
  e.title = text;
};

function enable(id: string, on: boolean): void {
  const b = el(id);
  if (on) b.removeAttribute('disabled');
  else b.setAttribute('disabled', '');
}

/** The panel's status tag: the shared words, with "stopping…" while the trainer finishes its step. */
const STATUS_TAG: Record<RunHeader['status'], string> = { ...STATUS_TEXT, stopping: 'stopping…' };

function drawHeader(): void {
  if (!run) return;
  const status = el('status');
  status.textContent = STATUS_TAG[run.status];
  status.dataset.status = run.status;
  app.dataset.status = run.status;
  el('busy').hidden = run.status !== 'running' && run.status !== 'stopping';
  set('run-name', run.name);
  const c = run.config;
  set('run-detail', c ? `${c.method === 'ulpt' ? `ULPT r=${c.rank}` : 'prompt tuning'}, n=${c.promptLength} · ${c.task.type} · ${modelLabel(c.model)} · ${basename(c.train)}` : '');
  document.title = `ULPT: ${run.name}`;

  const running = run.status === 'running' || run.status === 'stopping';
  enable('stop', running);
  el('stop').textContent = run.status === 'stopping' ? 'Stop Now' : 'Stop';
  el('resume').hidden = !run.resumable;
  enable('resume', run.resumable);
  enable('save-adapter', run.adapters.best || run.adapters.final);
  enable('try-adapter', !running && (run.adapters.best || run.adapters.final));
  enable('export-csv', train.length > 0 || evals.length > 0);

  const message = el('message');
  if (run.failure) {
    message.hidden = false;
    message.dataset.kind = 'error';
    const [first, ...rest] = run.failure.message.split('\n');
    set('message-text', first);
    const tail = [...rest, ...run.failure.tail.filter((l) => !rest.includes(l))].slice(-12);
    set('message-tail', tail.join('\n'));
    el('message-tail').hidden = tail.length === 0;
    set('message-usable', usable());
  } else if (run.status === 'interrupted') {
    message.hidden = false;
    message.dataset.kind = 'info';
    set('message-text', `Interrupted: ${run.interruption ?? 'the trainer process ended without finishing (closed, killed or crashed).'}`);
    el('message-tail').hidden = true;
    set('message-usable', usable());
  } else {
    message.hidden = true;
  }
  const o = run.owner;
  el('owner').hidden = !o || (run.status !== 'running' && run.status !== 'stopping');
  if (o) set('owner', `Trained by ${o.owner === 'ulpt train' ? 'ulpt train in a terminal' : o.owner} (process ${o.pid}${o.host ? ` on ${o.host}` : ''}) since ${new Date(o.since).toLocaleTimeString()}: it keeps training if this window closes.`);
}

/** After a failure or an interruption: what the run still offers. */
function usable(): string {
  if (!run) return '';
  const parts: string[] = [];
  const best = [...evals].reverse().find((e) => e.best);
  if (run.adapters.best && best) parts.push(`the best adapter (step ${best.step}, ${best.metric} ${formatNumber(best.value)}): Save Adapter…`);
  else if (run.adapters.best || run.adapters.final) parts.push('an adapter: Save Adapter…');
  if (run.resumable) parts.push(`its checkpoint (step ${train.at(-1)?.step ?? 0} or just before): Resume`);
  if (train.length || evals.length) parts.push(`${train.length} training steps and ${evals.length} evaluations: Export CSV…`);
  return parts.length ? `Still usable: ${parts.join(' · ')}.` : 'Nothing was trained yet: fix the problem above and train again.';
}

function basename(p: string): string {
  return p.split(/[\\/]/).filter(Boolean).pop() ?? p;
}

function drawStats(): void {
  const last = train.at(-1);
  const total = run?.config?.steps ?? null;
  set('step', `${last?.step ?? 0}${total ? ` / ${total}` : ''}`);
  el('step').dataset.step = String(last?.step ?? 0);
  set('loss', formatNumber(last?.loss));
  set('lr', last ? last.lr.toExponential(2) : '—');
  const tps = recentThroughput(train);
  set('tokens-per-second', tps === null ? '—' : Math.round(tps).toLocaleString('en-US'));
  const started = run?.started ?? null;
  set('eta', run?.status === 'running' ? formatDuration(etaFromPoints(train, total)) : '—');
  set('elapsed', formatDuration(last?.elapsedMs ?? null));
  const best = [...evals].reverse().find((e) => e.best);
  set('best', best ? `${best.metric} ${formatNumber(best.value)} @ ${best.step}` : '—');
  const params = started?.trainableParameters ?? run?.summary?.trainableParameters ?? null;
  set('params', params === null ? '—' : params.toLocaleString('en-US'));
  set('backend', started?.backend ?? run?.summary?.backend ?? '—');
  set('device', started?.device ?? run?.summary?.device ?? '—');
  // The count, with the messages as a tooltip (they are also in the ULPT output channel).
  const warnings = started?.warnings ?? null;
  const count = warnings?.length ?? run?.summary?.warnings ?? null;
  set('warnings', count === null ? '—' : String(count));
  el('warnings').title = warnings?.length ? warnings.join('\n') : count ? 'See the ULPT output channel for the details.' : '';
  const nothing = train.length === 0 && evals.length === 0;
  el('empty').hidden = !nothing || run?.status === 'failed';
  if (nothing) set('empty', run?.status === 'running' || run?.status === 'stopping' || !run ? 'Waiting for the first step…' : 'No steps were recorded.');
  enable('export-csv', train.length > 0 || evals.length > 0);
}

let frame = 0;
function redraw(): void {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    drawHeader();
    drawStats();
    drawCharts();
  });
}

// ---- Messages

function takePoints(p: RunPoints, reset: boolean): void {
  if (reset) {
    train = [...p.train].sort((a, b) => a.step - b.step);
    evals = [...p.eval].sort((a, b) => a.step - b.step);
    baseline = p.baseline;
    return;
  }
  mergeByStep(train, p.train);
  mergeByStep(evals, p.eval);
  if (p.baseline) baseline = p.baseline;
}

window.addEventListener('message', (event: MessageEvent<HostToWebview>) => {
  const m = event.data;
  switch (m.type) {
    case 'state':
      run = m.run;
      ui.runDir = m.run.dir;
      persist();
      takePoints(m, true);
      app.dataset.ready = 'true';
      break;
    case 'points':
      takePoints(m, false);
      break;
    case 'status':
      run = m.run;
      break;
    default:
      assertNever(m);
  }
  redraw();
});

function onClick(id: string, message: WebviewToHost): void {
  el(id).addEventListener('click', () => {
    if (el(id).hasAttribute('disabled')) return;
    vscode.postMessage(message);
  });
}
onClick('stop', { type: 'stop' });
onClick('resume', { type: 'resume' });
onClick('save-adapter', { type: 'saveAdapter' });
onClick('try-adapter', { type: 'tryAdapter' });
onClick('export-csv', { type: 'exportCsv' });
onClick('show-log', { type: 'showLog' });

const slider = el<HTMLInputElement>('smoothing');
slider.value = String(ui.smoothing);
set('smoothing-value', ui.smoothing.toFixed(2));
slider.addEventListener('input', () => {
  ui.smoothing = Number(slider.value);
  set('smoothing-value', ui.smoothing.toFixed(2));
  persist();
  redraw();
});

const logScale = el<HTMLInputElement>('log-scale');
logScale.checked = ui.logScale;
logScale.addEventListener('change', () => {
  ui.logScale = logScale.checked;
  persist();
  lossChart.setLogScale(ui.logScale);
  redraw();
});

// The theme changes by a class on <body> and new CSS variables on <html>: recolour the charts.
new MutationObserver(() => {
  lossChart.build();
  metricChart.build();
  redraw();
}).observe(document.body, { attributes: true, attributeFilter: ['class'] });

vscode.postMessage({ type: 'ready' });
