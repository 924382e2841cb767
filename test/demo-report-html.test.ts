import { existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderReportHtml, type ReportData } from '../src/demo/report-html.js';

const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find(existsSync);
if (!chromium) console.warn('report.html browser test skipped: Debian chromium is not installed (.ci/run installs it)');

const sample: ReportData = {
  title: 'distillery demo',
  generatedAt: '2026-11-27T00:00:00Z',
  machine: 'test machine',
  rows: [
    { name: 'teacher', accuracy: 0.97, retention: null, sizeBytes: 20e6, parameters: 5e6, p50Ms: 6, throughput: 160, speedup: null },
    { name: 'student', accuracy: 0.96, retention: 0.99, sizeBytes: 5e6, parameters: 1.2e6, p50Ms: 2, throughput: 480, speedup: 3 },
    { name: 'student-int8', accuracy: 0.958, retention: 0.988, sizeBytes: 1.4e6, parameters: 1.2e6, p50Ms: 1.8, throughput: 530, speedup: 3.3 },
  ],
  trainingLoss: Array.from({ length: 40 }, (_, i) => ({ step: i * 10, loss: 1 / (1 + i) })),
  validationAccuracy: [1, 2, 3].map((e) => ({ step: e * 130, accuracy: 0.9 + e * 0.02 })),
  notes: ['<script>alert(1)</script> is escaped'],
};

describe('report.html', () => {
  const dir = mkdtempSync(join(tmpdir(), 'report-html-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is self-contained: no scripts, no external resources, input escaped', () => {
    const html = renderReportHtml(sample);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/(src|href)=["']?https?:/i);
    expect(html).toContain('&lt;script&gt;');
    for (const id of ['chart-loss', 'chart-accuracy', 'chart-size', 'chart-latency']) expect(html).toContain(`id="${id}"`);
  });

  it.skipIf(!chromium)('renders its charts in headless Chromium', async () => {
    const { chromium: pw } = await import('playwright-core');
    const file = join(dir, 'report.html');
    writeFileSync(file, renderReportHtml(sample));
    const browser = await pw.launch({
      executablePath: chromium,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage();
      const requests: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      await page.goto('file://' + file);
      const charts = await page.$$eval('figure.chart', (figs) =>
        figs.map((f) => {
          const svg = f.querySelector('svg')!;
          const box = svg.getBoundingClientRect();
          const path = f.querySelector('path.series') as { getTotalLength(): number } | null;
          return {
            id: f.id,
            width: box.width,
            height: box.height,
            points: f.querySelectorAll('circle.point').length,
            pathLength: path ? path.getTotalLength() : 0,
          };
        }),
      );
      expect(charts.map((c) => c.id)).toEqual(['chart-loss', 'chart-accuracy', 'chart-size', 'chart-latency']);
      for (const c of charts) {
        expect(c.width).toBeGreaterThan(100);
        expect(c.height).toBeGreaterThan(100);
        expect(c.points).toBeGreaterThan(0);
      }
      expect(charts[0]!.pathLength).toBeGreaterThan(100); // the loss curve is drawn, not a dot
      expect(charts[0]!.points).toBe(40);
      expect(charts[2]!.points).toBe(3);
      const rows = await page.$$eval('#results tbody tr', (trs) => trs.length);
      expect(rows).toBe(3);
      expect(requests.filter((u) => !u.startsWith('file://'))).toEqual([]);
      const png = await page.screenshot({ fullPage: true });
      expect(png.length).toBeGreaterThan(10_000);
    } finally {
      await browser.close();
    }
  });
});
