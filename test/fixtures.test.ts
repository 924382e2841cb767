// fixtures/ is generated: the committed files must be exactly what `npm run fixtures` writes
// (scripts/fixtures.ts), every model must be valid ONNX that onnxruntime loads, and
// fixtures/README.md must describe every folder.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateFixtures } from '../scripts/fixtures.js';
import { checkModel, decodeModel } from '../src/onnx/index.js';
import { openSession } from '../src/runtime/session.js';
import { fixtures } from './cli-run.js';

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listFiles(join(dir, e.name)) : [join(dir, e.name)]));
}

describe('fixtures/', () => {
  const generated = generateFixtures();

  it('holds exactly what scripts/fixtures.ts generates (npm run fixtures)', () => {
    const committed = listFiles(fixtures)
      .map((f) => relative(fixtures, f))
      .filter((f) => f !== 'README.md')
      .sort();
    expect(committed).toEqual([...generated.keys()].sort());
    for (const [rel, bytes] of generated) {
      expect(Buffer.from(readFileSync(join(fixtures, rel))).equals(Buffer.from(bytes)), `${rel} differs from what npm run fixtures writes`).toBe(true);
    }
  });

  it('stays small, and every model is valid ONNX that onnxruntime loads', async () => {
    for (const rel of generated.keys()) {
      expect(statSync(join(fixtures, rel)).size, rel).toBeLessThan(200 * 1024);
      if (!rel.endsWith('.onnx')) continue;
      const bytes = new Uint8Array(readFileSync(join(fixtures, rel)));
      expect(checkModel(decodeModel(bytes)), rel).toEqual([]);
      const { session } = await openSession(bytes, { threads: 1 });
      await session.release();
    }
  });

  it('README.md names every fixture folder and data file', () => {
    const readme = readFileSync(join(fixtures, 'README.md'), 'utf8');
    const names = new Set([...generated.keys()].map((rel) => (rel.startsWith('data/') ? rel : rel.split('/')[0]!)));
    for (const name of names) expect(readme, name).toContain(name);
  });
});
