import { describe, expect, it } from 'vitest';
import { buildBertClassifier, defaultBertConfig } from '../src/architectures/bert.js';
import { SeededRandom } from '../src/architectures/random.js';
import { embeddingRowGradient } from '../src/autodiff/embedding-rows.js';
import { GradEmitter } from '../src/autodiff/emit.js';
import { buildGradientModel } from '../src/autodiff/gradient-model.js';
import type { FactTable } from '../src/autodiff/shapes.js';
import { createTrainer } from '../src/distill/trainer.js';
import { DataType, encodeModel, GraphBuilder } from '../src/onnx/index.js';
import { ort } from '../src/runtime/session.js';

/**
 * Embedding gradients sum the updates of repeated rows. onnxruntime's CPU ScatterND add (the op
 * used before) splits large batches over the intra-op threads without synchronisation and
 * loses updates of rows that repeat ([CLS], token type 0): with it, all three tests below
 * failed in each of 6 runs of this file. The batches are big enough to be split (8192
 * positions x 32) and each check repeats, since whether the second thread overlaps depends on
 * the machine's load. The gradients are multiples of 1/16, small enough that every partial sum
 * is exact in float32 in any order, so the result must equal the JS sum exactly on every run.
 */
const V = 40;
const H = 32;
const [B, S] = [64, 128];
const RUNS = 200;

/** Ids that repeat heavily: half the positions are row 0, a few rows take most of the rest, some are negative (from the end). */
function ids(rng: SeededRandom, n: number): BigInt64Array {
  return BigInt64Array.from({ length: n }, (_, i) => {
    if (i % 2 === 0) return 0n;
    const r = rng.next() < 0.8 ? 1 + rng.int(3) : rng.int(V);
    return BigInt(i % 7 === 1 ? r - V : r);
  });
}

/** Multiples of 1/16 in [-4, 4). */
function dyadic(rng: SeededRandom, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => (rng.int(128) - 64) / 16);
}

/** JS reference: sum of the updates per (wrapped) row, [rows, H]. */
function rowSums(lookups: Array<{ ids: BigInt64Array; dy: Float32Array }>): Float64Array {
  const out = new Float64Array(V * H);
  for (const { ids, dy } of lookups) {
    ids.forEach((id, k) => {
      const row = (Number(id) + V) % V;
      for (let h = 0; h < H; h++) out[row * H + h] += dy[k * H + h]!;
    });
  }
  return out;
}

const twoThreads = { intraOpNumThreads: 2, interOpNumThreads: 1, executionMode: 'sequential' as const };

describe('embedding row gradients at 2 threads', () => {
  it('embeddingRowGradient sums repeated rows exactly and identically on every run', async () => {
    // Two lookups of one table: [B, S] word ids and [B] extra ids (the Concat path).
    const b = new GraphBuilder({ opset: 17 });
    const table = b.input('table', DataType.FLOAT, [V, H]);
    const ids1 = b.input('ids1', DataType.INT64, [B, S]);
    const dy1 = b.input('dy1', DataType.FLOAT, [B, S, H]);
    const ids2 = b.input('ids2', DataType.INT64, [B]);
    const dy2 = b.input('dy2', DataType.FLOAT, [B, H]);
    const facts: FactTable = new Map([
      [table, { elemType: DataType.FLOAT, dims: [V, H] }],
      [ids1, { elemType: DataType.INT64, dims: [B, S] }],
      [dy1, { elemType: DataType.FLOAT, dims: [B, S, H] }],
      [ids2, { elemType: DataType.INT64, dims: [B] }],
      [dy2, { elemType: DataType.FLOAT, dims: [B, H] }],
    ]);
    const e = new GradEmitter(b, facts);
    const { rows, grad } = embeddingRowGradient(e, table, [
      { indices: ids1, dy: dy1 },
      { indices: ids2, dy: dy2 },
    ]);
    b.node('Identity', [rows], { outputs: ['rows'] });
    b.node('Identity', [grad], { outputs: ['grad'] });
    b.output('rows', DataType.INT64, ['U']);
    b.output('grad', DataType.FLOAT, ['U', H]);
    const session = await ort.InferenceSession.create(encodeModel(b.build()), twoThreads);

    const rng = new SeededRandom(11);
    const lookups = [
      { ids: ids(rng, B * S), dy: dyadic(rng, B * S * H) },
      { ids: ids(rng, B), dy: dyadic(rng, B * H) },
    ];
    const expected = rowSums(lookups);
    const wantRows = [...new Set(lookups.flatMap((l) => [...l.ids].map((id) => (Number(id) + V) % V)))].sort((p, q) => p - q);
    expect(expected[0]).not.toBe(0);
    const feeds = {
      table: new ort.Tensor('float32', new Float32Array(V * H), [V, H]),
      ids1: new ort.Tensor('int64', lookups[0]!.ids, [B, S]),
      dy1: new ort.Tensor('float32', lookups[0]!.dy, [B, S, H]),
      ids2: new ort.Tensor('int64', lookups[1]!.ids, [B]),
      dy2: new ort.Tensor('float32', lookups[1]!.dy, [B, H]),
    };
    for (let run = 0; run < RUNS; run++) {
      const out = await session.run(feeds);
      const got = out.grad!.data as Float32Array;
      expect([...(out.rows!.data as BigInt64Array)].map(Number)).toEqual(wantRows);
      const wrong = wantRows.flatMap((row, u) =>
        Array.from({ length: H }, (_, h) => [row, h, got[u * H + h]!, expected[row * H + h]!] as const).filter(([, , g, x]) => g !== x),
      );
      expect(wrong.slice(0, 3), `run ${run}: ${wrong.length} of ${wantRows.length * H} sums wrong [row, col, got, want]`).toEqual([]);
    }
    await session.release();
  });

  it('the dense Gather gradient (rule, no rows) sums repeated rows exactly too', async () => {
    const b = new GraphBuilder({ opset: 17 });
    const table = b.input('table', DataType.FLOAT, [V, H]);
    const idsIn = b.input('ids', DataType.INT64, [B, S]);
    b.node('Gather', [table, idsIn], { outputs: ['y'] });
    b.output('y', DataType.FLOAT, [B, S, H]);
    const gm = await buildGradientModel(b.build(), { wrt: [table] });
    const session = await ort.InferenceSession.create(encodeModel(gm.model), twoThreads);
    const rng = new SeededRandom(12);
    const lookup = { ids: ids(rng, B * S), dy: dyadic(rng, B * S * H) };
    const expected = Float32Array.from(rowSums([lookup]));
    const feeds = {
      table: new ort.Tensor('float32', new Float32Array(V * H), [V, H]),
      ids: new ort.Tensor('int64', lookup.ids, [B, S]),
      [gm.seedInputs.get('y')!]: new ort.Tensor('float32', lookup.dy, [B, S, H]),
    };
    for (let run = 0; run < RUNS; run++) {
      const got = (await session.run(feeds))[gm.gradOutputs.get(table)!]!.data as Float32Array;
      const wrong = expected.reduce((n, x, k) => n + Number(got[k] !== x), 0);
      expect(wrong, `run ${run}: ${wrong} of ${V * H} sums wrong`).toBe(0);
    }
    await session.release();
  });

  it('training a builder BERT on 2 threads is bit-identical across two runs of one seed', async () => {
    // 8192 tokens a batch (B x S): the old op raced in the token type and word rows.
    const config = { ...defaultBertConfig, vocabSize: V, numLabels: 2, hiddenSize: H, numHeads: 2, intermediateSize: 64, numLayers: 1, maxPositions: S };
    const model = buildBertClassifier(config, { seed: 4 });
    const batch = (rng: SeededRandom) => {
      const n = B * S;
      const input = BigInt64Array.from({ length: n }, (_, i) => (i % S === 0 ? 1n : BigInt(2 + (rng.next() < 0.5 ? rng.int(3) : rng.int(V - 2)))));
      return {
        feeds: {
          input_ids: new ort.Tensor('int64', input, [B, S]),
          attention_mask: new ort.Tensor('int64', new BigInt64Array(n).fill(1n), [B, S]),
          token_type_ids: new ort.Tensor('int64', new BigInt64Array(n), [B, S]),
        },
        labels: Array.from({ length: B }, (_, r) => Number(input[r * S + 1]! >= BigInt(V / 2))),
      };
    };
    const run = async () => {
      const t = await createTrainer(model, {
        loss: { kind: 'ce' },
        optimizer: { kind: 'adamw', weightDecay: 0.01, maxGradNorm: 1 },
        threads: 2,
        dropout: 0.1,
        seed: 7,
      });
      const rng = new SeededRandom(5);
      for (let i = 0; i < 3; i++) await t.step(batch(rng), 1e-3);
      const state = t.exportState();
      await t.release();
      return state;
    };
    const [a, b] = [await run(), await run()];
    expect(a.step).toBe(3);
    for (const [name, t] of a.tensors) {
      const u = b.tensors.get(name)!;
      expect(Buffer.compare(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength), Buffer.from(u.data.buffer, u.data.byteOffset, u.data.byteLength)), name).toBe(0);
    }
  });
});
