// The two uPlot charts of the training panel, coloured from the editor theme. A chart is rebuilt when the theme or
// the y scale changes (uPlot fixes both at creation) and only fed new columns otherwise.
import uPlot from 'uplot';
import { fitRange, type Columns } from './series';

/** A theme colour from VS Code's CSS variables (set on <html>), with a fallback for a page outside VS Code. */
export function themeColor(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(`--vscode-${name}`).trim();
  return v || fallback;
}

interface Theme {
  fg: string;
  muted: string;
  grid: string;
  font: string;
  palette: string[];
}

function readTheme(): Theme {
  const family = themeColor('font-family', 'sans-serif');
  const size = themeColor('font-size', '12px');
  return {
    fg: themeColor('editor-foreground', '#ccc'),
    muted: themeColor('descriptionForeground', '#999'),
    grid: themeColor('editorWidget-border', themeColor('panel-border', 'rgba(128,128,128,0.35)')),
    font: `${size} ${family}`,
    palette: [
      themeColor('charts-blue', '#3794ff'),
      themeColor('charts-orange', '#d18616'),
      themeColor('charts-green', '#89d185'),
      themeColor('charts-purple', '#b180d7'),
      themeColor('charts-red', '#f14c4c'),
      themeColor('charts-yellow', '#cca700'),
    ],
  };
}

/** The colour the charts give palette index `i` (-1: the muted foreground), for legends drawn outside uPlot. */
export function seriesColor(i: number): string {
  const t = readTheme();
  return i < 0 ? t.muted : t.palette[i % t.palette.length];
}

export interface SeriesSpec {
  label: string;
  /** Index into the theme palette; -1 for the muted foreground. */
  color: number;
  width?: number;
  alpha?: number;
  dash?: number[];
  points?: boolean;
  spanGaps?: boolean;
  /** How the legend shows a value on hover. */
  format?: (v: number) => string;
  /** A reference line: drawn where it falls, but the y range is fitted to the other series (linear scale). */
  reference?: boolean;
  /** Point size in px (default 6). */
  pointSize?: number;
}

export interface ChartSpec {
  series: SeriesSpec[];
  yLabel: string;
  /** Fixed y range (metrics live in [0, 1]); auto when absent. */
  yRange?: [number, number];
}


const HEIGHT = 240;

export class Chart {
  private plot: uPlot | null = null;
  private data: Columns;
  private logScale = false;
  private xMax: number | null = null;
  private readonly resize: ResizeObserver;

  constructor(private readonly el: HTMLElement, private readonly spec: ChartSpec) {
    this.data = [[], ...spec.series.map(() => [])];
    this.resize = new ResizeObserver(() => this.plot?.setSize(this.size()));
    this.resize.observe(el);
    this.build();
  }

  private size(): { width: number; height: number } {
    return { width: Math.max(200, this.el.clientWidth), height: HEIGHT };
  }

  /** Recreates the chart: the theme or the scale changed. */
  build(): void {
    this.plot?.destroy();
    const t = readTheme();
    const color = (i: number) => (i < 0 ? t.muted : t.palette[i % t.palette.length]);
    const axis: uPlot.Axis = { stroke: t.fg, font: t.font, labelFont: t.font, grid: { stroke: t.grid, width: 1 }, ticks: { stroke: t.grid, width: 1 } };
    const opts: uPlot.Options = {
      ...this.size(),
      cursor: { drag: { x: true, y: false }, sync: { key: 'ulpt-panel' } },
      // Swatches drawn as their lines are (width, dash, faintness): raw and smoothed loss, or a metric and its
      // un-prompted reference, share a colour and would otherwise get the same swatch.
      legend: {
        live: true,
        markers: {
          width: (_u, i) => markerWidth(this.spec.series[i - 1]),
          dash: (_u, i) => markerDash(this.spec.series[i - 1]),
          stroke: (_u, i) => (i === 0 ? t.fg : markerColor(this.spec.series[i - 1], color(this.spec.series[i - 1].color))),
        },
      },
      scales: {
        // The x axis spans the whole run (0 … total steps) so the curves show how far it has come.
        x: { time: false, range: (_u, min, max) => [Math.min(0, min ?? 0), Math.max(max ?? 1, this.xMax ?? 1, 1)] },
        y: this.logScale
          ? { distr: 3, log: 10 }
          : this.spec.yRange
            ? { range: this.spec.yRange }
            : { range: (_u, min, max) => fitRange(this.data, (i) => !this.spec.series[i - 1]?.reference) ?? [min ?? 0, max ?? 1] },
      },
      axes: [
        { ...axis, label: 'step' },
        { ...axis, label: this.spec.yLabel, size: 60 },
      ],
      series: [
        { label: 'step', value: (_u, v) => (v === null || v === undefined ? '—' : String(v)) },
        ...this.spec.series.map<uPlot.Series>((s) => ({
          label: s.label,
          stroke: color(s.color),
          width: s.width ?? 1.5,
          alpha: s.alpha ?? 1,
          dash: s.dash,
          spanGaps: s.spanGaps ?? false,
          points: { show: s.points ?? false, size: s.pointSize ?? 6, fill: color(s.color) },
          value: (_u, v) => (v === null || v === undefined ? '—' : s.format ? s.format(v) : String(v)),
        })),
      ],
    };
    this.plot = new uPlot(opts, this.data as uPlot.AlignedData, this.el);
  }

  setData(data: Columns): void {
    this.data = data;
    this.plot?.setData(data as uPlot.AlignedData);
    // uPlot auto-ranges a single x value (the step-0 evaluation alone) to 0…100, past the range function: pin it.
    const xs = data[0] as ArrayLike<number>;
    if (this.plot && this.xMax && xs.length === 1) this.plot.setScale('x', { min: Math.min(0, xs[0]), max: Math.max(this.xMax, xs[0]) });
  }

  /** The run's total steps: the x axis reaches it from the start. */
  setXMax(steps: number | null): void {
    this.xMax = steps;
  }

  setLogScale(on: boolean): void {
    if (on === this.logScale) return;
    this.logScale = on;
    this.build();
  }

  /** Series count changed (e.g. the first evaluation brought its metric names): rebuild with new series. */
  setSeries(series: SeriesSpec[]): void {
    this.spec.series = series;
    this.data = [this.data[0], ...series.map(() => this.data[0].map(() => null))];
    this.build();
  }

  get seriesCount(): number {
    return this.spec.series.length;
  }

  dispose(): void {
    this.resize.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }
}

/** A legend swatch's border width: the line's, within 1–3 px. */
export function markerWidth(s: Pick<SeriesSpec, 'width'> | undefined): number {
  return Math.min(3, Math.max(1, Math.round(s?.width ?? 1.5)));
}

/** A legend swatch's border style: dotted for short dashes (references), dashed for long, else solid. */
export function markerDash(s: Pick<SeriesSpec, 'dash'> | undefined): string {
  if (!s?.dash?.length) return 'solid';
  return s.dash[0] <= 2 ? 'dotted' : 'dashed';
}

/** A legend swatch's colour: a faint line (alpha below 1) gets a faint swatch. */
export function markerColor(s: Pick<SeriesSpec, 'alpha'>, color: string): string {
  const alpha = s.alpha ?? 1;
  return alpha >= 1 ? color : `color-mix(in srgb, ${color} ${Math.round(alpha * 100)}%, transparent)`;
}
