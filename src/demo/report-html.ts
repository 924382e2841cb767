/**
 * report.html for `distillery demo`: one self-contained file (inline SVG, no scripts, no
 * network at view time) with the results table, the training curves and the
 * accuracy / size / latency trade-off.
 */
export interface ReportModelRow {
  name: string;
  /** On the held-out test split. */
  accuracy: number;
  /** On the validation split the student was selected on (shown beside the test figure). */
  validationAccuracy?: number;
  retention: number | null;
  sizeBytes: number;
  parameters: number;
  p50Ms: number;
  throughput: number;
  speedup: number | null;
}

export interface ReportCurvePoint {
  step: number;
  loss?: number;
  accuracy?: number;
}

export interface ReportData {
  title: string;
  generatedAt: string;
  machine: string;
  rows: ReportModelRow[];
  trainingLoss: ReportCurvePoint[];
  validationAccuracy: ReportCurvePoint[];
  notes: string[];
}

const W = 520;
const H = 300;
const M = { left: 60, right: 20, top: 30, bottom: 45 };
const palette = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) return [min];
  const step0 = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= step0) ?? step0;
  const ticks: number[] = [];
  for (let t = Math.ceil(min / step) * step; t <= max + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1000) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1).replace(/\.0$/, '');
  return v.toPrecision(3).replace(/\.?0+$/, '');
}

interface Series {
  name: string;
  points: Array<{ x: number; y: number; label?: string }>;
  line: boolean;
}

function chart(id: string, title: string, xLabel: string, yLabel: string, series: Series[]): string {
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return `<figure id="${id}" class="chart empty"><figcaption>${esc(title)}: no data</figcaption></figure>`;
  let [x0, x1] = [Math.min(...all.map((p) => p.x)), Math.max(...all.map((p) => p.x))];
  let [y0, y1] = [Math.min(...all.map((p) => p.y)), Math.max(...all.map((p) => p.y))];
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  const padX = (x1 - x0) * 0.08;
  const padY = (y1 - y0) * 0.1;
  [x0, x1, y0, y1] = [x0 - padX, x1 + padX, y0 - padY, y1 + padY];
  const sx = (x: number) => M.left + ((x - x0) / (x1 - x0)) * (W - M.left - M.right);
  const sy = (y: number) => H - M.bottom - ((y - y0) / (y1 - y0)) * (H - M.top - M.bottom);
  const parts: string[] = [];
  parts.push(`<rect x="${M.left}" y="${M.top}" width="${W - M.left - M.right}" height="${H - M.top - M.bottom}" fill="#fafafa" stroke="#ccc"/>`);
  for (const t of niceTicks(x0, x1)) {
    parts.push(`<line x1="${sx(t)}" x2="${sx(t)}" y1="${H - M.bottom}" y2="${H - M.bottom + 5}" stroke="#555"/>`);
    parts.push(`<text x="${sx(t)}" y="${H - M.bottom + 18}" text-anchor="middle" class="tick">${fmt(t)}</text>`);
  }
  for (const t of niceTicks(y0, y1)) {
    parts.push(`<line x1="${M.left - 5}" x2="${W - M.right}" y1="${sy(t)}" y2="${sy(t)}" stroke="#e3e3e3"/>`);
    parts.push(`<text x="${M.left - 8}" y="${sy(t) + 4}" text-anchor="end" class="tick">${fmt(t)}</text>`);
  }
  series.forEach((s, i) => {
    const color = palette[i % palette.length];
    if (s.line && s.points.length > 1) {
      const d = s.points.map((p, k) => `${k ? 'L' : 'M'}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join('');
      parts.push(`<path class="series" data-series="${esc(s.name)}" d="${d}" fill="none" stroke="${color}" stroke-width="1.6"/>`);
    }
    for (const p of s.points) {
      parts.push(`<circle class="point" cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="${s.line ? 2 : 6}" fill="${color}"><title>${esc(p.label ?? s.name)}: ${fmt(p.x)}, ${fmt(p.y)}</title></circle>`);
      // Alternate labels above and below their points so neighbours do not overprint.
      if (p.label) parts.push(`<text x="${sx(p.x) + 9}" y="${sy(p.y) + (i % 2 ? 17 : -8)}" class="label">${esc(p.label)}</text>`);
    }
  });
  parts.push(`<text x="${(M.left + W - M.right) / 2}" y="${H - 8}" text-anchor="middle" class="axis">${esc(xLabel)}</text>`);
  parts.push(`<text transform="translate(16 ${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle" class="axis">${esc(yLabel)}</text>`);
  parts.push(`<text x="${M.left}" y="18" class="title">${esc(title)}</text>`);
  return `<figure id="${id}" class="chart"><svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">${parts.join('')}</svg></figure>`;
}

export function renderReportHtml(r: ReportData): string {
  const pct = (v: number | null) => (v === null ? '-' : `${(v * 100).toFixed(2)}%`);
  const mb = (b: number) => `${(b / 1024 / 1024).toFixed(2)} MiB`;
  const rows = r.rows
    .map(
      (m) =>
        `<tr><td>${esc(m.name)}</td><td>${pct(m.accuracy)}</td><td>${pct(m.validationAccuracy ?? null)}</td><td>${m.retention === null ? '-' : m.retention.toFixed(3)}</td><td>${mb(m.sizeBytes)}</td><td>${m.parameters.toLocaleString('en-US')}</td><td>${m.p50Ms.toFixed(2)} ms</td><td>${m.throughput.toFixed(1)}/s</td><td>${m.speedup === null ? '-' : m.speedup.toFixed(2) + 'x'}</td></tr>`,
    )
    .join('\n');
  const lossChart = chart('chart-loss', 'Training loss', 'step', 'loss', [
    { name: 'training loss', points: r.trainingLoss.filter((p) => p.loss !== undefined).map((p) => ({ x: p.step, y: p.loss! })), line: true },
  ]);
  const accChart = chart('chart-accuracy', 'Validation accuracy during training', 'step', 'accuracy (%)', [
    { name: 'validation accuracy', points: r.validationAccuracy.filter((p) => p.accuracy !== undefined).map((p) => ({ x: p.step, y: p.accuracy! * 100 })), line: true },
  ]);
  const sizeChart = chart('chart-size', 'Accuracy vs size', 'size (MiB)', 'accuracy (%)', r.rows.map((m) => ({
    name: m.name, line: false, points: [{ x: m.sizeBytes / 1024 / 1024, y: m.accuracy * 100, label: m.name }],
  })));
  const latencyChart = chart('chart-latency', 'Accuracy vs latency (batch 1, p50)', 'latency (ms)', 'accuracy (%)', r.rows.map((m) => ({
    name: m.name, line: false, points: [{ x: m.p50Ms, y: m.accuracy * 100, label: m.name }],
  })));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.title)}</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1rem 0}th,td{border-bottom:1px solid #ddd;padding:.35rem .8rem;text-align:right}
th:first-child,td:first-child{text-align:left}.charts{display:flex;flex-wrap:wrap;gap:1rem}
figure{margin:0}.tick{font-size:11px;fill:#555}.axis{font-size:12px;fill:#333}.title{font-size:14px;font-weight:600}
.label{font-size:11px;fill:#333}.meta{color:#666;font-size:.9rem}
</style></head>
<body>
<h1>${esc(r.title)}</h1>
<p class="meta">${esc(r.generatedAt)} · ${esc(r.machine)}</p>
<table id="results"><thead><tr><th>model</th><th>accuracy (test)</th><th>accuracy (validation)</th><th>retention (test)</th><th>size</th><th>parameters</th><th>p50 latency</th><th>throughput</th><th>speed-up</th></tr></thead>
<tbody>
${rows}
</tbody></table>
<div class="charts">
${lossChart}
${accChart}
${sizeChart}
${latencyChart}
</div>
${r.notes.length ? `<ul class="notes">${r.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}
</body></html>
`;
}
