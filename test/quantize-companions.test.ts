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

  it('copies config.json and the tokenizer next to an output in another folder, never over existing files', async () => {
    mkdirSync(join(dir, 'fp32'));
    mkdirSync(join(dir, 'int8'));
    writeFileSync(join(dir, 'fp32', 'model.onnx'), encodeModel(smallBertModel()));
    writeFileSync(join(dir, 'fp32', 'config.json'), '{"id2label":{"0":"a","1":"b","2":"c"}}');
    writeFileSync(join(dir, 'fp32', 'vocab.txt'), '[PAD]\n[UNK]\n[CLS]\n[SEP]\n');
    writeFileSync(join(dir, 'int8', 'vocab.txt'), 'already here\n');
    const report = await quantizeFile(join(dir, 'fp32', 'model.onnx'), join(dir, 'int8', 'model.onnx'));
    expect(report.files!.companions).toEqual([join(dir, 'int8', 'config.json')]);
    expect(readFileSync(join(dir, 'int8', 'config.json'), 'utf8')).toContain('id2label');
    expect(readFileSync(join(dir, 'int8', 'vocab.txt'), 'utf8')).toBe('already here\n');
    expect(existsSync(join(dir, 'int8', 'tokenizer.json'))).toBe(false);
  });

  it('copies nothing when the output sits next to the input', async () => {
    const report = await quantizeFile(join(dir, 'fp32', 'model.onnx'), join(dir, 'fp32', 'model-int8.onnx'));
    expect(report.files!.companions).toEqual([]);
  });
});
