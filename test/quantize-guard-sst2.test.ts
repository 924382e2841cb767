import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { guardedQuantizeFile } from '../src/eval/index.js';
import { checkModel, loadModel } from '../src/onnx/index.js';
import { openSession } from '../src/runtime/session.js';
import { SST2_DATA, SST2_MODEL as MODEL, hasSharedFiles, useTempDir } from './shared-fixtures.js';

const DATA = join(SST2_DATA, 'validation.tsv');
const hasShared = hasSharedFiles('the accuracy-guard test on sst2-bert-mini', MODEL, DATA);

describe.skipIf(!hasShared)('accuracy guard on sst2-bert-mini', () => {
  const dir = useTempDir('guard-sst2-');

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
