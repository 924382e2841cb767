import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTokenizer, readAllRecords } from '../src/data/index.js';
import { checkModel, loadModel } from '../src/onnx/index.js';
import { quantizeFile } from '../src/quantize/index.js';
import { SST2_DATA, SST2_MODEL, SST2_MODEL_DIR as MODEL_DIR, hasSharedFiles, sst2Logits as allLogits, useTempDir } from './shared-fixtures.js';

const hasShared = hasSharedFiles('the SST-2 quantization test (real exporter graph, 872 sentences)', SST2_MODEL, join(SST2_DATA, 'validation.tsv'));

describe.skipIf(!hasShared)('quantize sst2-bert-mini (PyTorch exporter graph, opset 14)', () => {
  const dir = useTempDir('quantize-sst2-');

  it('keeps the logits on the 872 validation sentences: SQNR >= 30 dB, argmax agreement >= 99%, size <= 0.27', async () => {
    const fp32Path = SST2_MODEL;
    const int8Path = join(dir, 'model-int8.onnx');
    const report = await quantizeFile(fp32Path, int8Path);

    // Embedding tables included: the file shrinks to about a quarter.
    const ratio = statSync(int8Path).size / statSync(fp32Path).size;
    expect(ratio).toBeLessThanOrEqual(0.27);
    expect(report.files!.ratio).toBeCloseTo(ratio, 6);
    const names = report.tensors.map((t) => t.name);
    expect(names).toContain('bert.embeddings.word_embeddings.weight');
    expect(names.filter((n) => n.startsWith('onnx::MatMul_'))).toHaveLength(24);
    expect(names).toContain('bert.pooler.dense.weight');
    expect(report.tensors.find((t) => t.name === 'bert.embeddings.word_embeddings.weight')!.shape).toEqual([30522, 256]);
    expect(checkModel(await loadModel(int8Path))).toEqual([]);

    const tokenizer = await loadTokenizer(MODEL_DIR, { maxLength: 64 });
    const records = await readAllRecords(join(SST2_DATA, 'validation.tsv'));
    expect(records).toHaveLength(872);
    const encoded = records.map((r) => tokenizer.encode(r.text));
    const ref = await allLogits(fp32Path, encoded);
    const got = await allLogits(int8Path, encoded);

    let signal = 0;
    let noise = 0;
    for (let i = 0; i < ref.length; i++) {
      signal += ref[i]! ** 2;
      noise += (ref[i]! - got[i]!) ** 2;
    }
    const sqnr = 10 * Math.log10(signal / noise);
    let agree = 0;
    let correct = 0;
    records.forEach((r, i) => {
      const a = ref[2 * i + 1]! > ref[2 * i]! ? 1 : 0;
      const b = got[2 * i + 1]! > got[2 * i]! ? 1 : 0;
      agree += a === b ? 1 : 0;
      correct += b === Number(r.label) ? 1 : 0;
    });
    console.log(`sst2-bert-mini int8: logit SQNR ${sqnr.toFixed(1)} dB, argmax agreement ${((100 * agree) / 872).toFixed(2)}%, ` +
      `accuracy ${((100 * correct) / 872).toFixed(2)}%, size ratio ${ratio.toFixed(3)}`);
    expect(sqnr).toBeGreaterThanOrEqual(30);
    expect(agree / records.length).toBeGreaterThanOrEqual(0.99);
  }, 120_000);
});
