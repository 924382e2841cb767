import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadTokenizer, readAllRecords } from '../src/data/index.js';
import { checkModel, loadModel } from '../src/onnx/index.js';
import { quantizeFile } from '../src/quantize/index.js';
import { openSession, ort } from '../src/runtime/session.js';
import { sqnrDb } from './quantize-fixtures.js';

const SHARED = resolve(dirname(fileURLToPath(import.meta.url)), '../../shared');
const MODEL_DIR = join(SHARED, 'models/sst2-bert-mini');
const DATA = join(SHARED, 'data/sst2');
const hasShared = existsSync(join(MODEL_DIR, 'model.onnx')) && existsSync(join(DATA, 'train.tsv')) && existsSync(join(DATA, 'validation.tsv'));
if (!hasShared) console.warn('../shared is absent: skipping the SST-2 static quantization test (text calibration through the tokenizer)');

async function logits(path: string, encoded: Array<{ ids: number[] }>): Promise<Float32Array> {
  const { session } = await openSession(path, { threads: 2 });
  const out = new Float32Array(encoded.length * 2);
  for (let i = 0; i < encoded.length; i++) {
    const ids = encoded[i]!.ids;
    const L = ids.length;
    const r = await session.run({
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, L]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(L).fill(1n), [1, L]),
      token_type_ids: new ort.Tensor('int64', new BigInt64Array(L), [1, L]),
    });
    out.set(r.logits!.data as Float32Array, i * 2);
  }
  await session.release();
  return out;
}

describe.skipIf(!hasShared)('quantize --mode static on sst2-bert-mini (text calibration)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'quantize-static-sst2-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('calibrates on 32 train sentences (entropy) and keeps 100 validation sentences', async () => {
    const fp32Path = join(MODEL_DIR, 'model.onnx');
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
