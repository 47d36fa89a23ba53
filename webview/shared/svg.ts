// Small SVG pictures for the monitor and the inspector: a sparkline, a scatter, bars against a reference band, and a
// per-dimension envelope. Plain SVG elements (no library, no inline styles: the CSP allows neither), coloured by CSS
// classes that use the editor theme's variables.

const NS = 'http://www.w3.org/2000/svg';

export function svgEl<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number> = {}): SVGElementTagNameMap[K] {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

const fmt = (v: number) => (Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(1) : String(Number(v.toPrecision(3))));

interface Box {
  width: number;
  height: number;
  pad: { left: number; right: number; top: number; bottom: number };
}

function scale(lo: number, hi: number, from: number, to: number): (v: number) => number {
  const span = hi - lo || 1;
  return (v) => from + ((v - lo) / span) * (to - from);
}

function extent(values: number[], include: number[] = []): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of [...values, ...include]) {
    if (!Number.isFinite(v)) continue;
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  if (lo === Infinity) return [0, 1];
  if (lo === hi) return [lo - 1, hi + 1];
  const m = (hi - lo) * 0.06;
  return [lo - m, hi + m];
}

/** A loss sparkline: the values left to right, scaled to their own range; one dot on the last value. */
export function sparkline(values: number[], width = 120, height = 28): SVGSVGElement {
  const svg = svgEl('svg', { viewBox: `0 0 ${width} ${height}`, width, height, class: 'sparkline', role: 'img' });
  svg.dataset.points = String(values.length);
  if (values.length < 2) return svg;
  const [lo, hi] = extent(values);
  const x = scale(0, values.length - 1, 1, width - 3);
  const y = scale(lo, hi, height - 2, 2);
  const d = values.map((v, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join('');
  svg.append(svgEl('path', { d, class: 'line' }), svgEl('circle', { cx: x(values.length - 1), cy: y(values[values.length - 1]), r: 2, class: 'dot' }));
  const title = svgEl('title');
  title.textContent = `training loss (smoothed): ${fmt(values[0])} → ${fmt(values[values.length - 1])}`;
  svg.append(title);
  return svg;
}

function frame(svg: SVGSVGElement, b: Box, xr: [number, number], yr: [number, number], labels: { x?: string; y?: string }): void {
  const { left, right, top, bottom } = b.pad;
  svg.append(svgEl('rect', { x: left, y: top, width: b.width - left - right, height: b.height - top - bottom, class: 'frame' }));
  const tick = (t: string, attrs: Record<string, string | number>) => {
    const e = svgEl('text', { class: 'tick', ...attrs });
    e.textContent = t;
    svg.append(e);
  };
  tick(fmt(yr[1]), { x: left - 4, y: top + 4, 'text-anchor': 'end' });
  tick(fmt(yr[0]), { x: left - 4, y: b.height - bottom, 'text-anchor': 'end' });
  tick(fmt(xr[0]), { x: left, y: b.height - bottom + 13, 'text-anchor': 'start' });
  tick(fmt(xr[1]), { x: b.width - right, y: b.height - bottom + 13, 'text-anchor': 'end' });
  if (labels.x) tick(labels.x, { x: (left + b.width - right) / 2, y: b.height - 2, 'text-anchor': 'middle' });
  if (labels.y) tick(labels.y, { x: 4, y: top + (b.height - top - bottom) / 2, 'text-anchor': 'start' });
}

const BOX = (width: number, height: number): Box => ({ width, height, pad: { left: 44, right: 10, top: 8, bottom: 30 } });

/** Points in the plane, each labelled with its index (the virtual token's position); zero axes drawn when in range. */
export function scatter(points: [number, number][], opts: { xLabel: string; yLabel: string; width?: number; height?: number }): SVGSVGElement {
  const b = BOX(opts.width ?? 360, opts.height ?? 300);
  const svg = svgEl('svg', { viewBox: `0 0 ${b.width} ${b.height}`, class: 'chart scatter', role: 'img' });
  const xr = extent(points.map((p) => p[0]));
  const yr = extent(points.map((p) => p[1]));
  frame(svg, b, xr, yr, { x: opts.xLabel, y: opts.yLabel });
  const x = scale(xr[0], xr[1], b.pad.left, b.width - b.pad.right);
  const y = scale(yr[0], yr[1], b.height - b.pad.bottom, b.pad.top);
  if (xr[0] < 0 && xr[1] > 0) svg.append(svgEl('line', { x1: x(0), x2: x(0), y1: b.pad.top, y2: b.height - b.pad.bottom, class: 'axis' }));
  if (yr[0] < 0 && yr[1] > 0) svg.append(svgEl('line', { x1: b.pad.left, x2: b.width - b.pad.right, y1: y(0), y2: y(0), class: 'axis' }));
  points.forEach(([px, py], i) => {
    const c = svgEl('circle', { cx: x(px).toFixed(1), cy: y(py).toFixed(1), r: 4, class: 'point' });
    const t = svgEl('title');
    t.textContent = `virtual token ${i}: (${fmt(px)}, ${fmt(py)})`;
    c.append(t);
    svg.append(c);
    if (points.length <= 40) {
      const label = svgEl('text', { x: (x(px) + 6).toFixed(1), y: (y(py) - 5).toFixed(1), class: 'point-label' });
      label.textContent = String(i);
      svg.append(label);
    }
  });
  return svg;
}

/** One bar per value (index on x), with an optional reference band (p10…p90) and line (median). */
export function bars(values: number[], opts: { yLabel: string; xLabel: string; band?: { lo: number; mid: number; hi: number; label: string }; width?: number; height?: number }): SVGSVGElement {
  const b = BOX(opts.width ?? 360, opts.height ?? 220);
  const svg = svgEl('svg', { viewBox: `0 0 ${b.width} ${b.height}`, class: 'chart bars', role: 'img' });
  const band = opts.band;
  const [, top] = extent(values, band ? [band.hi, 0] : [0]);
  const yr: [number, number] = [0, top];
  frame(svg, b, [0, Math.max(0, values.length - 1)], yr, { x: opts.xLabel, y: opts.yLabel });
  const y = scale(yr[0], yr[1], b.height - b.pad.bottom, b.pad.top);
  const inner = b.width - b.pad.left - b.pad.right;
  const w = inner / Math.max(1, values.length);
  if (band) {
    svg.append(svgEl('rect', { x: b.pad.left, width: inner, y: y(band.hi), height: Math.max(0, y(band.lo) - y(band.hi)), class: 'band' }));
    const line = svgEl('line', { x1: b.pad.left, x2: b.width - b.pad.right, y1: y(band.mid), y2: y(band.mid), class: 'reference' });
    const t = svgEl('title');
    t.textContent = band.label;
    line.append(t);
    svg.append(line);
  }
  values.forEach((v, i) => {
    const r = svgEl('rect', { x: (b.pad.left + i * w + w * 0.15).toFixed(1), width: Math.max(0.5, w * 0.7).toFixed(1), y: y(v).toFixed(1), height: Math.max(0, y(0) - y(v)).toFixed(1), class: 'bar' });
    const t = svgEl('title');
    t.textContent = `virtual token ${i}: ${fmt(v)}`;
    r.append(t);
    svg.append(r);
  });
  svg.dataset.bars = String(values.length);
  return svg;
}

/** A per-dimension vector (min/max per column when reduced) with a reference value (scale 1, shift 0). */
export function envelopeChart(env: { index: number[]; min: number[]; max: number[]; length: number }, opts: { yLabel: string; reference: number; width?: number; height?: number }): SVGSVGElement {
  const b = BOX(opts.width ?? 360, opts.height ?? 180);
  const svg = svgEl('svg', { viewBox: `0 0 ${b.width} ${b.height}`, class: 'chart envelope', role: 'img' });
  const yr = extent([...env.min, ...env.max], [opts.reference]);
  frame(svg, b, [0, Math.max(0, env.length - 1)], yr, { x: 'dimension', y: opts.yLabel });
  const x = scale(0, Math.max(1, env.length - 1), b.pad.left, b.width - b.pad.right);
  const y = scale(yr[0], yr[1], b.height - b.pad.bottom, b.pad.top);
  svg.append(svgEl('line', { x1: b.pad.left, x2: b.width - b.pad.right, y1: y(opts.reference), y2: y(opts.reference), class: 'reference' }));
  const exact = env.min.every((v, i) => v === env.max[i]);
  if (exact) {
    const d = env.min.map((v, i) => `${i ? 'L' : 'M'}${x(env.index[i]).toFixed(1)},${y(v).toFixed(1)}`).join('');
    svg.append(svgEl('path', { d, class: 'line' }));
  } else {
    const d = env.min.map((v, i) => `M${x(env.index[i]).toFixed(1)},${y(v).toFixed(1)}V${y(env.max[i]).toFixed(1)}`).join('');
    svg.append(svgEl('path', { d, class: 'line' }));
  }
  return svg;
}
