import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildBertClassifier } from '../src/architectures/bert.js';
import { resolveInputShapes, syntheticFeeds, textFeeds, tokensIn, type InputSpec } from '../src/bench/inputs.js';
import { modelFacts, modelLabels, positionTableRows, weightKindOf } from '../src/bench/model-info.js';
import { parseDimAssignments, parsePositiveIntList } from '../src/bench/options.js';
import { encodeModel } from '../src/onnx/index.js';
import { quantizeModel } from '../src/quantize/index.js';
import { fixtureDir, removeFixtureDirs, tinyBert, writeBert } from './bench-fixtures.js';

afterAll(removeFixtureDirs);

const bertInputs: InputSpec[] = ['input_ids', 'attention_mask', 'token_type_ids'].map((name) => ({
  name,
  isTensor: true,
  type: 'int64',
  shape: ['batch', 'sequence'],
}));
const req = { batchSize: 2, batchExplicit: true, seqLen: 8, model: 'm.onnx' };

describe('input shapes', () => {
  it('resolves batch- and sequence-like symbolic dims from the sweep point', () => {
    const r = resolveInputShapes(bertInputs, req);
    expect(r).toEqual({ batchSize: 2, seqLen: 8, shapes: { input_ids: [2, 8], attention_mask: [2, 8], token_type_ids: [2, 8] } });
    const named = resolveInputShapes([{ name: 'input_ids', isTensor: true, type: 'int32', shape: ['batch_size', 'seq_len'] }], req);
    expect(named.shapes.input_ids).toEqual([2, 8]);
  });

  it('takes unnamed dims of [batch, sequence] token inputs by position, fixed dims as they are', () => {
    const r = resolveInputShapes([{ name: 'input_ids', isTensor: true, type: 'int64', shape: [-1, 'unk__12'] }], req);
    expect(r.shapes.input_ids).toEqual([2, 8]);
    const fixed = resolveInputShapes([{ name: 'input_ids', isTensor: true, type: 'int64', shape: [1, 16] }], { ...req, batchSize: 1, batchExplicit: false, seqLen: undefined });
    expect(fixed).toMatchObject({ batchSize: 1, seqLen: 16 });
  });

  it('names the input and dim it cannot resolve', () => {
    expect(() => resolveInputShapes(bertInputs, { ...req, seqLen: undefined })).toThrow(
      'm.onnx: input "input_ids" dim 1 ("sequence") is a dynamic sequence length; pass --seq-len',
    );
    const image: InputSpec[] = [{ name: 'pixel_values', isTensor: true, type: 'float32', shape: ['batch', 3, 'height', 'width'] }];
    expect(() => resolveInputShapes(image, req)).toThrow(/input "pixel_values" dim 2 \("height"\) is dynamic .* pass --dim height=N/);
    expect(resolveInputShapes(image, { ...req, dims: { height: 4, width: 5 } }).shapes.pixel_values).toEqual([2, 3, 4, 5]);
    const fixed: InputSpec[] = [{ name: 'input_ids', isTensor: true, type: 'int64', shape: [1, 'sequence'] }];
    expect(() => resolveInputShapes(fixed, req)).toThrow(/fixed batch dim of 1; --batch-size 2 does not fit/);
  });
});

describe('synthetic feeds', () => {
  it('draws ids inside the vocabulary, with [CLS]/[SEP] for BERT vocabularies, masks 1, types 0', () => {
    const shapes = resolveInputShapes(bertInputs, req).shapes;
    const [ids, mask, types] = syntheticFeeds(bertInputs, shapes, { vocabSize: 30522, seed: 3 });
    expect(ids!.dims).toEqual([2, 8]);
    const v = Array.from(ids!.data as BigInt64Array, Number);
    for (let r = 0; r < 2; r++) {
      expect(v[r * 8]).toBe(101);
      expect(v[r * 8 + 7]).toBe(102);
      for (let j = 1; j < 7; j++) expect(v[r * 8 + j]).toBeGreaterThanOrEqual(999), expect(v[r * 8 + j]).toBeLessThan(30522);
    }
    expect(new Set(v.slice(1, 7)).size).toBeGreaterThan(1);
    expect([...(mask!.data as BigInt64Array)].every((x) => x === 1n)).toBe(true);
    expect([...(types!.data as BigInt64Array)].every((x) => x === 0n)).toBe(true);
    expect(tokensIn([ids!, mask!, types!], 2, 8)).toBe(16);
    // Same seed, same ids: every model of a comparison sees the same input.
    expect(syntheticFeeds(bertInputs, shapes, { vocabSize: 30522, seed: 3 })[0]!.data).toEqual(ids!.data);
  });

  it('keeps small vocabularies in range and follows the declared element type', () => {
    const inputs: InputSpec[] = [{ name: 'input_ids', isTensor: true, type: 'int32', shape: ['batch', 'sequence'] }];
    const [ids] = syntheticFeeds(inputs, { input_ids: [4, 16] }, { vocabSize: 50 });
    expect(ids!.data).toBeInstanceOf(Int32Array);
    expect([...(ids!.data as Int32Array)].every((x) => x >= 1 && x < 50)).toBe(true);
    const floats = syntheticFeeds([{ name: 'x', isTensor: true, type: 'float32', shape: ['batch', 'sequence'] }], { x: [1, 3] });
    expect(floats[0]!.data).toBeInstanceOf(Float32Array);
  });

  it('pads or cuts real encodings to the sequence length; tokens count the mask', () => {
    const encodings = [
      { ids: [101, 7, 8, 102], typeIds: [0, 0, 0, 0] },
      { ids: [101, 9, 102], typeIds: [0, 0, 0] },
    ];
    const { feeds, resolved } = textFeeds(bertInputs, encodings, { ...req, batchSize: 3, seqLen: undefined, padId: 0 });
    expect(resolved).toMatchObject({ batchSize: 3, seqLen: 4 });
    expect(Array.from(feeds[0]!.data as BigInt64Array, Number)).toEqual([101, 7, 8, 102, 101, 9, 102, 0, 101, 7, 8, 102]);
    expect(tokensIn(feeds, 3, 4)).toBe(11);
    const cut = textFeeds(bertInputs, encodings, { ...req, batchSize: 1, seqLen: 2, padId: 0 });
    expect(Array.from(cut.feeds[0]!.data as BigInt64Array, Number)).toEqual([101, 7]);
  });
});

describe('model facts', () => {
  it('reads vocabulary and position limit from the graph when there is no config.json', async () => {
    const dir = fixtureDir();
    const facts = await modelFacts(writeBert(dir, 'm.onnx'), 'm');
    expect(facts).toMatchObject({ vocabSize: 1000, maxSequenceLength: 64, weightKind: 'fp32', label: 'm' });
    expect(positionTableRows(buildBertClassifier({ ...tinyBert, maxPositions: 33 }))).toBe(33);
  });

  it('labels block-quantized (--bits) models int4 / int8-block, with their codes under that name and their logical parameter count', async () => {
    const dir = fixtureDir();
    const fp32 = buildBertClassifier(tinyBert, { seed: 1 });
    const fp32Facts = await modelFacts(writeBert(dir, 'fp32.onnx'), 'fp32');
    for (const [bits, kind] of [[4, 'int4'], [8, 'int8-block']] as const) {
      const path = join(dir, `q${bits}.onnx`);
      writeFileSync(path, encodeModel(quantizeModel(fp32, { bits, minElements: 0 }).model));
      const facts = await modelFacts(path, `q${bits}`);
      expect(facts.weightKind).toBe(kind);
      expect(facts.weightBytesByDtype[kind]).toBeGreaterThan(0);
      // MatMulNBits and GatherBlockQuantized codes are uint8 on disk; none are left under that name.
      expect(facts.weightBytesByDtype.uint8 ?? 0).toBe(0);
      expect(Object.values(facts.weightBytesByDtype).reduce((a, b) => a + b, 0)).toBe(facts.weightBytes);
      expect(facts.parameters).toBe(fp32Facts.parameters);
    }
    expect(weightKindOf({ float32: 700, int4: 250, int8: 50 })).toBe('int4');
  });

  it('classifies weights by dtype and labels models by file or folder', () => {
    expect(weightKindOf({ float32: 1000 })).toBe('fp32');
    expect(weightKindOf({ float32: 700, int8: 300 })).toBe('int8');
    expect(weightKindOf({ float16: 1000, float32: 8 })).toBe('fp16');
    expect(weightKindOf({})).toBe('none');
    expect(modelLabels(['a/teacher/model.onnx', 'a/student.onnx', 'b/student.onnx'])).toEqual(['teacher', 'a/student.onnx', 'b/student.onnx']);
    expect(modelLabels(['x/m.onnx', 'x/m.onnx'])).toEqual(['m', 'm #2']);
  });

  it('parses flag lists and rejects zero and negatives', () => {
    expect(parsePositiveIntList('1, 8,32', '--batch-size')).toEqual([1, 8, 32]);
    expect(() => parsePositiveIntList('0', '--batch-size')).toThrow('--batch-size 0: must be a positive integer');
    expect(() => parsePositiveIntList('-4', '--batch-size')).toThrow('--batch-size -4: must be a positive integer');
    expect(() => parsePositiveIntList('8,', '--seq-len')).toThrow(/comma-separated/);
    expect(parseDimAssignments(['height=224'])).toEqual({ height: 224 });
    expect(() => parseDimAssignments(['height'])).toThrow(/name=N/);
  });
});
