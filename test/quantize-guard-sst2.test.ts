import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { guardedQuantizeFile } from '../src/eval/index.js';
import { checkModel, loadModel } from '../src/onnx/index.js';
import { openSession } from '../src/runtime/session.js';

const SHARED = resolve(dirname(fileURLToPath(import.meta.url)), '../../shared');
const MODEL = join(SHARED, 'models/sst2-bert-mini/model.onnx');
const DATA = join(SHARED, 'data/sst2/validation.tsv');
const hasShared = existsSync(MODEL) && existsSync(DATA);
if (!hasShared) console.warn('../shared is absent: skipping the accuracy-guard test on sst2-bert-mini');

describe.skipIf(!hasShared)('accuracy guard on sst2-bert-mini', () => {
  const dir = mkdtempSync(join(tmpdir(), 'guard-sst2-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('--max-drop 0.1 on the 872 validation sentences: met, written model valid and loads', async () => {
    const out = join(dir, 'model-int8.onnx');
    const result = await guardedQuantizeFile(MODEL, out, { maxDrop: 0.1, evalData: DATA });
    expect(result.guard!.met).toBe(true);
    expect(result.guard!.finalValue).toBeLessThanOrEqual(0.1);
    expect(result.guard!.int8Nodes).toBeGreaterThan(20);
    expect(result.report.files!.ratio).toBeLessThan(0.3);
    expect(checkModel(await loadModel(out))).toEqual([]);
    await (await openSession(out)).session.release();
  }, 120_000);
});
