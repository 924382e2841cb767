import { describe, expect, it } from 'vitest';
import type { InferenceSession } from 'onnxruntime-node';
import { makeBatches, scatterRows } from '../src/data/batching.js';
import { buildFeeds, planFeeds } from '../src/data/feeds.js';
import { UserError } from '../src/errors.js';

const examples = [
  { ids: [2, 5, 3], typeIds: [0, 0, 0], label: 1 },
  { ids: [2, 5, 6, 7, 3], typeIds: [0, 0, 0, 1, 1], label: 0 },
  { ids: [2, 3], typeIds: [0, 0], label: 1 },
  { ids: [2, 8, 9, 3], typeIds: [0, 0, 0, 0] },
  { ids: [2, 4, 3], typeIds: [0, 0, 0], label: 0 },
];

function meta(name: string, type: string, shape: (number | string)[] = ['batch', 'sequence']): InferenceSession.ValueMetadata {
  return { name, isTensor: true, type, shape } as InferenceSession.ValueMetadata;
}

describe('makeBatches', () => {
  it('pads each batch to its own longest row, in file order without sorting', () => {
    const batches = makeBatches(examples, 2, { sortByLength: false, padId: 0 });
    expect(batches.map((b) => [b.indices, b.size, b.seqLength])).toEqual([
      [[0, 1], 2, 5],
      [[2, 3], 2, 4],
      [[4], 1, 3],
    ]);
    const b = batches[0]!;
    expect([...b.inputIds]).toEqual([2, 5, 3, 0, 0, 2, 5, 6, 7, 3]);
    expect([...b.attentionMask]).toEqual([1, 1, 1, 0, 0, 1, 1, 1, 1, 1]);
    expect([...b.tokenTypeIds]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
    expect([...b.labels]).toEqual([1, 0]);
    expect([...batches[1]!.labels]).toEqual([1, -1]);
  });

  it('groups rows by length when sorting, and scatterRows restores the original order', () => {
    const batches = makeBatches(examples, 2, { padId: 9 });
    expect(batches.map((b) => b.indices)).toEqual([[1, 3], [0, 4], [2]]);
    expect(batches.map((b) => b.seqLength)).toEqual([5, 3, 2]);
    expect([...batches[0]!.inputIds]).toEqual([2, 5, 6, 7, 3, 2, 8, 9, 3, 9]);
    // Per-row outputs [row index * 10, row index * 10 + 1] come back in file order.
    const outputs = batches.map((b) => Float32Array.from(b.indices.flatMap((i) => [i * 10, i * 10 + 1])));
    expect([...scatterRows(batches, outputs, 2, examples.length)]).toEqual([0, 1, 10, 11, 20, 21, 30, 31, 40, 41]);
  });

  it('rejects a bad batch size', () => {
    expect(() => makeBatches(examples, 0)).toThrow(RangeError);
  });
});

describe('buildFeeds', () => {
  const [batch] = makeBatches(examples.slice(0, 2), 2, { sortByLength: false });

  it('fills int64 inputs', () => {
    const feeds = buildFeeds([meta('input_ids', 'int64'), meta('attention_mask', 'int64'), meta('token_type_ids', 'int64')], batch!);
    expect(Object.keys(feeds)).toEqual(['input_ids', 'attention_mask', 'token_type_ids']);
    expect(feeds.input_ids!.type).toBe('int64');
    expect(feeds.input_ids!.dims).toEqual([2, 5]);
    expect([...(feeds.attention_mask!.data as BigInt64Array)]).toEqual([1n, 1n, 1n, 0n, 0n, 1n, 1n, 1n, 1n, 1n]);
  });

  it('fills any subset, int32 where declared, and other exporters’ names', () => {
    const feeds = buildFeeds([meta('input_ids', 'int32'), meta('input_mask', 'int64')], batch!);
    expect(Object.keys(feeds)).toEqual(['input_ids', 'input_mask']);
    expect(feeds.input_ids!.type).toBe('int32');
    expect([...(feeds.input_ids!.data as Int32Array)]).toEqual([2, 5, 3, 0, 0, 2, 5, 6, 7, 3]);
    const pos = buildFeeds([meta('input_ids', 'int64'), meta('position_ids', 'int64')], batch!);
    expect([...(pos.position_ids!.data as BigInt64Array)].map(Number)).toEqual([0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
  });

  it('names an input it cannot fill', () => {
    const err = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(UserError);
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(err(() => planFeeds([meta('input_ids', 'int64'), meta('pixel_values', 'float32')], 'm.onnx'))).toBe(
      'm.onnx: cannot fill model input "pixel_values" (we provide input_ids, attention_mask, token_type_ids, position_ids)',
    );
    expect(err(() => planFeeds([meta('input_ids', 'float32')], 'm.onnx'))).toBe('m.onnx: model input "input_ids" is float32, expected int64 or int32');
    expect(err(() => planFeeds([meta('attention_mask', 'int64')], 'm.onnx'))).toBe('m.onnx: the model has no input_ids input');
  });
});
