import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTokenizer, readAllRecords } from '../src/data/index.js';
import { checkModel, loadModel } from '../src/onnx/index.js';
import { quantizeFile } from '../src/quantize/index.js';
import { sqnrDb } from './quantize-fixtures.js';
import { SST2_DATA as DATA, SST2_MODEL, SST2_MODEL_DIR as MODEL_DIR, hasSharedFiles, sst2Logits as logits, useTempDir } from './shared-fixtures.js';

const hasShared = hasSharedFiles('the SST-2 static quantization test (text calibration through the tokenizer)',
  SST2_MODEL, join(DATA, 'train.tsv'), join(DATA, 'validation.tsv'));

describe.skipIf(!hasShared)('quantize --mode static on sst2-bert-mini (text calibration)', () => {
  const dir = useTempDir('quantize-static-sst2-');

  it('calibrates on 32 train sentences (entropy) and keeps 100 validation sentences', async () => {
    const fp32Path = SST2_MODEL;
    const out = join(dir, 'model-static.onnx');
    const report = await quantizeFile(fp32Path, out, {
      mode: 'static',
      calibration: { data: { kind: 'file', path: join(DATA, 'train.tsv') }, method: 'entropy', size: 32 },
    });
    expect(report.calibration).toMatchObject({ rows: 32, batches: 4, method: 'entropy' });
    expect(report.files!.ratio).toBeLessThan(0.27);
    expect(checkModel(await loadModel(out))).toEqual([]);
    const tokenizer = await loadTokenizer(MODEL_DIR, { maxLength: 64 });
    const records = (await readAllRecords(join(DATA, 'validation.tsv'))).slice(0, 100);
    const encoded = records.map((r) => tokenizer.encode(r.text));
    const ref = await logits(fp32Path, encoded);
    const q = await logits(out, encoded);
    let agree = 0;
    for (let i = 0; i < encoded.length; i++) if (ref[2 * i]! > ref[2 * i + 1]! === q[2 * i]! > q[2 * i + 1]!) agree++;
    expect(agree).toBeGreaterThanOrEqual(97);
    expect(sqnrDb(ref, q)).toBeGreaterThan(20);
  });
});
