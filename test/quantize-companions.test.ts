import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeModel } from '../src/onnx/index.js';
import { quantizeFile } from '../src/quantize/index.js';
import { smallBertModel } from './quantize-fixtures.js';

describe('quantizeFile companion files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'quantize-companions-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('copies config.json and the tokenizer next to an output in another folder; a different file there is refused without --force', async () => {
    mkdirSync(join(dir, 'fp32'));
    mkdirSync(join(dir, 'int8'));
    const vocab = '[PAD]\n[UNK]\n[CLS]\n[SEP]\n';
    writeFileSync(join(dir, 'fp32', 'model.onnx'), encodeModel(smallBertModel()));
    writeFileSync(join(dir, 'fp32', 'config.json'), '{"id2label":{"0":"a","1":"b","2":"c"}}');
    writeFileSync(join(dir, 'fp32', 'vocab.txt'), vocab);
    writeFileSync(join(dir, 'int8', 'vocab.txt'), 'another model\'s vocabulary\n');
    const out = join(dir, 'int8', 'model.onnx');
    await expect(quantizeFile(join(dir, 'fp32', 'model.onnx'), out)).rejects.toThrow(
      /int8\/vocab\.txt: already exists and differs from .*fp32\/vocab\.txt .*use --force to replace it/,
    );
    // Refused before any work: no model, no config.json, the other file untouched.
    expect(existsSync(out)).toBe(false);
    expect(existsSync(join(dir, 'int8', 'config.json'))).toBe(false);
    expect(readFileSync(join(dir, 'int8', 'vocab.txt'), 'utf8')).toBe('another model\'s vocabulary\n');

    const forced = await quantizeFile(join(dir, 'fp32', 'model.onnx'), out, { force: true });
    expect(forced.files!.companions.sort()).toEqual([join(dir, 'int8', 'config.json'), join(dir, 'int8', 'vocab.txt')]);
    expect(readFileSync(join(dir, 'int8', 'vocab.txt'), 'utf8')).toBe(vocab);
    expect(readFileSync(join(dir, 'int8', 'config.json'), 'utf8')).toContain('id2label');
    expect(existsSync(join(dir, 'int8', 'tokenizer.json'))).toBe(false);

    // Identical files already there are fine without --force (and not reported as written).
    const again = await quantizeFile(join(dir, 'fp32', 'model.onnx'), join(dir, 'int8', 'model-2.onnx'));
    expect(again.files!.companions).toEqual([]);
  });

  it('copies nothing when the output sits next to the input', async () => {
    const report = await quantizeFile(join(dir, 'fp32', 'model.onnx'), join(dir, 'fp32', 'model-int8.onnx'));
    expect(report.files!.companions).toEqual([]);
  });
});
