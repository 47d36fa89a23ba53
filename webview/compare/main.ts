// Run comparison (browser side): the training loss, evaluation loss and an evaluation metric of every run overlaid,
// one colour per run, and a legend of what differs between them. State from the host (`state`, then `run` deltas);
// the runs and the smoothing are kept in the webview state so the panel comes back after a reload.
import 'uplot/dist/uPlot.min.css';
import './compare.css';
import type { CompareRun, CompareState, CompareToHost, ConfigDifference, HostToCompare } from '../../src/protocol';
import { assertNever } from '../../src/protocol';
import { Chart, seriesColor, type SeriesSpec } from '../shared/charts';
import { debiasedEma, formatNumber, STATUS_TEXT, type Columns } from '../shared/series';
import { byId, frameScheduler, h, vscodeApi } from '../shared/vscodeApi';

const vscode = vscodeApi<CompareToHost, CompareState>();
const saved = vscode.getState();
let smoothing = saved?.smoothing ?? 0.6;
let runs: CompareRun[] = [];
let differences: ConfigDifference[] = [];
let shared: { label: string; value: string }[] = [];
let metric = '';
const persist = () => vscode.setState({ dirs: runs.map((r) => r.dir), smoothing });

const lossChart = new Chart(byId('loss-chart'), { yLabel: 'loss (smoothed)', series: [] });
const evalLossChart = new Chart(byId('eval-loss-chart'), { yLabel: 'eval loss', series: [] });
const metricChart = new Chart(byId('metric-chart'), { yLabel: 'metric', series: [], yRange: [0, 1] });
let seriesKey = '';

/** Aligns per-run [step, value] lists on the union of their steps (null where a run has no point). */
function align(perRun: [number, number][][]): Columns {
  const xs = [...new Set(perRun.flatMap((pts) => pts.map((p) => p[0])))].sort((a, b) => a - b);
  const cols = perRun.map((pts) => {
    const at = new Map(pts);
    return xs.map((x) => (at.has(x) && Number.isFinite(at.get(x)!) ? at.get(x)! : null));
  });
  return [xs, ...cols];
}

function metricNames(): string[] {
  return [...new Set(runs.flatMap((r) => r.eval.flatMap((e) => Object.keys(e.metrics))))].sort();
}

function drawCharts(): void {
  const key = runs.map((r) => r.name).join('\0');
  if (key !== seriesKey) {
    seriesKey = key;
    const line = (points: boolean): SeriesSpec[] => runs.map((r, i) => ({ label: r.name, color: i, width: 1.8, points, spanGaps: true, format: (v: number) => formatNumber(v) }));
    lossChart.setSeries(line(false));
    evalLossChart.setSeries(line(true));
    metricChart.setSeries(line(true));
  }
  lossChart.setData(align(runs.map((r) => {
    const smooth = debiasedEma(r.train.map((p) => p[1]), smoothing);
    return r.train.map((p, i) => [p[0], smooth[i]] as [number, number]);
  })));
  evalLossChart.setData(align(runs.map((r) => r.eval.map((e) => [e.step, e.loss] as [number, number]))));
  const names = metricNames();
  if (!names.includes(metric)) metric = runs.flatMap((r) => r.eval.map((e) => e.metric)).find((m) => names.includes(m)) ?? names[0] ?? '';
  const select = byId<HTMLSelectElement>('metric');
  if (Array.from(select.options, (o) => o.value).join() !== names.join()) select.replaceChildren(...names.map((n) => h('option', { value: n }, n)));
  select.value = metric;
  metricChart.setData(align(runs.map((r) => r.eval.filter((e) => Number.isFinite(e.metrics[metric])).map((e) => [e.step, e.metrics[metric]] as [number, number]))));
  byId('metric-title').textContent = metric ? `Evaluation: ${metric}` : 'Evaluation metric (no evaluation yet)';
  for (const [id, chart] of [['loss-chart', lossChart], ['eval-loss-chart', evalLossChart], ['metric-chart', metricChart]] as const) {
    byId(id).dataset.series = String(chart.seriesCount);
  }
  byId('loss-chart').dataset.points = runs.map((r) => r.train.length).join(',');
}

function drawLegend(): void {
  const head = h('tr', {}, h('th', {}, ''), h('th', {}, 'run'), h('th', {}, 'status'), h('th', {}, 'best'), ...differences.map((d) => h('th', { 'data-field': d.field }, d.label)));
  const rows = runs.map((r, i) => {
    const swatch = h('span', { class: 'swatch', 'aria-hidden': 'true' });
    swatch.style.background = seriesColor(i);
    const name = h('button', { class: 'link', title: `Open the training panel of ${r.name}` }, r.name);
    name.addEventListener('click', () => vscode.postMessage({ type: 'open', dir: r.dir }));
    return h('tr', { 'data-testid': 'legend-run', 'data-dir': r.dir },
      h('td', {}, swatch), h('td', {}, name), h('td', { class: 'detail' }, STATUS_TEXT[r.status]),
      h('td', { class: 'num' }, r.best ? `${r.best.metric} ${formatNumber(r.best.value)} @ ${r.best.step}` : '—'),
      ...differences.map((d) => h('td', { 'data-field': d.field }, d.values[i] ?? '')));
  });
  byId('legend').replaceChildren(h('thead', {}, head), h('tbody', {}, ...rows));
  byId('shared').textContent = shared.length ? `Same in all: ${shared.map((s) => `${s.label} ${s.value}`).join(' · ')}` : '';
  byId('shared').hidden = !shared.length;
  byId('title').textContent = differences.length ? `Compare ${runs.length} runs: ${differences.map((d) => d.label).join(', ')} differ` : `Compare ${runs.length} runs`;
}

const redraw = frameScheduler(() => {
  drawLegend();
  drawCharts();
  const app = byId('app');
  app.dataset.runs = String(runs.length);
  app.dataset.differences = differences.map((d) => d.field).join(',');
  app.dataset.ready = 'true';
});

window.addEventListener('message', (event: MessageEvent<HostToCompare>) => {
  const m = event.data;
  switch (m.type) {
    case 'state':
      runs = m.runs;
      differences = m.differences;
      shared = m.shared;
      persist();
      break;
    case 'run': {
      const i = runs.findIndex((r) => r.dir === m.run.dir);
      if (i >= 0) runs[i] = m.run;
      break;
    }
    default:
      assertNever(m);
  }
  redraw();
});

const slider = byId<HTMLInputElement>('smoothing');
slider.value = String(smoothing);
slider.addEventListener('input', () => {
  smoothing = Number(slider.value);
  persist();
  redraw();
});
byId<HTMLSelectElement>('metric').addEventListener('change', (e) => {
  metric = (e.target as HTMLSelectElement).value;
  redraw();
});

new MutationObserver(() => {
  for (const c of [lossChart, evalLossChart, metricChart]) c.build();
  redraw();
}).observe(document.body, { attributes: true, attributeFilter: ['class'] });

vscode.postMessage({ type: 'ready' });
