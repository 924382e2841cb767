/**
 * `npm run bench:trainer`: training throughput of the in-graph trainer (forward + loss +
 * backward + optimizer step in one onnxruntime run) on ../shared/models/sst2-student-init,
 * on real SST-2 sentences (length-bucketed dynamic padding, batch 32 by default), as the
 * PyTorch reference in that model's README measured (306 examples/s, AdamW, KD loss).
 *
 *   node dist/scripts/bench-trainer.js [--batch 32] [--threads 2] [--steps 40] [--rounds 5]
 *       [--level basic|extended|all|disabled] [--dense-embeddings] [--loss kl|ce|mse] [--examples 6400]
 *       [--data train|validation] [--pad-to N] [--dropout 0.1]
 *
 * SST-2's train.tsv is mostly short phrases (mean padded length ~13); validation.tsv holds full
 * sentences (~25). --pad-to N pads every batch to at least N tokens (masked), for a fixed length.
 *
 * Reports steps/s and examples/s (median and best round; the machine may be shared, so best is
 * the least disturbed), CPU time per step, mean padded sequence length, build time and peak RSS.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SeededRandom } from '../src/architectures/random.js';
import { loadTokenizer, makeBatches, buildFeeds, readAllRecords, encodeRecords, type Batch } from '../src/data/index.js';
import { createTrainer } from '../src/distill/trainer.js';
import type { LossKind } from '../src/distill/losses.js';
import { loadModel } from '../src/onnx/index.js';
import type { GraphOptimizationLevel } from '../src/runtime/session.js';

const here = dirname(fileURLToPath(import.meta.url));
// dist/scripts/ -> the repo -> ../shared (DISTILLERY_SHARED overrides).
const shared = process.env.DISTILLERY_SHARED ?? resolve(here, '../../../shared');
const args = process.argv.slice(2);
const opt = (name: string, d: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : d;
};
const batchSize = Number(opt('--batch', '32'));
const threads = Number(opt('--threads', '2'));
const steps = Number(opt('--steps', '40'));
const rounds = Number(opt('--rounds', '5'));
const examples = Number(opt('--examples', '6400'));
const level = opt('--level', 'extended') as GraphOptimizationLevel;
const loss = opt('--loss', 'kl') as LossKind;
const dense = args.includes('--dense-embeddings');
const padTo = Number(opt('--pad-to', '0'));
const dropout = Number(opt('--dropout', '0'));
const dataFile = opt('--data', 'train');

const modelDir = join(shared, 'models/sst2-student-init');
const train = join(shared, `data/sst2/${dataFile}.tsv`);
if (!existsSync(modelDir) || !existsSync(train)) {
  console.error(`needs ${modelDir} and ${train}`);
  process.exit(2);
}

function padBatch(b: Batch, seq: number): Batch {
  const widen = (a: Int32Array) => {
    const out = new Int32Array(b.size * seq);
    for (let r = 0; r < b.size; r++) out.set(a.subarray(r * b.seqLength, (r + 1) * b.seqLength), r * seq);
    return out;
  };
  return { ...b, seqLength: seq, inputIds: widen(b.inputIds), attentionMask: widen(b.attentionMask), tokenTypeIds: widen(b.tokenTypeIds) };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const model = await loadModel(join(modelDir, 'model.onnx'));
const tokenizer = await loadTokenizer(join(modelDir, 'vocab.txt'), { maxLength: 64 });
const rng = new SeededRandom(1);
const records = rng.shuffle(await readAllRecords(train)).slice(0, examples);
const encoded = encodeRecords(records, tokenizer);
const batches = rng.shuffle(makeBatches(encoded, batchSize)).map((b) => (b.seqLength >= padTo ? b : padBatch(b, padTo)));
const meanSeq = batches.reduce((a, b) => a + b.seqLength * b.size, 0) / batches.reduce((a, b) => a + b.size, 0);

const t0 = performance.now();
const trainer = await createTrainer(model, {
  loss: { kind: loss, temperature: 2, alpha: 0.5 },
  optimizer: { kind: 'adamw', weightDecay: 0.01, maxGradNorm: 1 },
  threads,
  graphOptimizationLevel: level,
  sparseEmbeddings: !dense,
  dropout,
  seed: 1,
});
const buildMs = performance.now() - t0;
const inputs = trainer.graph.dataInputs.map((name) => ({ name, isTensor: true as const, type: 'int64' as const, shape: ['batch', 'sequence'] }));
const prepared = batches.map((b) => ({
  feeds: buildFeeds(inputs, b),
  labels: Array.from(b.labels),
  teacherLogits: Float32Array.from({ length: b.size * 2 }, () => rng.normal()),
  size: b.size,
}));

let next = 0;
const runSteps = async (n: number) => {
  let count = 0;
  for (let i = 0; i < n; i++) {
    const b = prepared[next++ % prepared.length]!;
    await trainer.step(b, 5e-4);
    count += b.size;
  }
  return count;
};
await runSteps(10);
const perRound: Array<{ ms: number; cpuMs: number; examples: number }> = [];
for (let r = 0; r < rounds; r++) {
  const cpu = process.cpuUsage();
  const start = performance.now();
  const count = await runSteps(steps);
  const ms = performance.now() - start;
  const used = process.cpuUsage(cpu);
  perRound.push({ ms: ms / steps, cpuMs: (used.user + used.system) / 1000 / steps, examples: (count * 1000) / ms });
}
const best = perRound.reduce((a, b) => (b.ms < a.ms ? b : a));
const med = median(perRound.map((r) => r.ms));
const report = {
  model: 'sst2-student-init',
  data: dataFile,
  batch: batchSize,
  meanPaddedSeq: Number(meanSeq.toFixed(1)),
  threads,
  graphOptimizationLevel: level,
  embeddings: dense ? 'dense' : 'rows',
  loss,
  dropout,
  buildMs: Math.round(buildMs),
  trainingGraphNodes: trainer.graph.model.graph!.node!.length,
  msPerStep: { median: Number(med.toFixed(1)), best: Number(best.ms.toFixed(1)) },
  stepsPerSecond: { median: Number((1000 / med).toFixed(1)), best: Number((1000 / best.ms).toFixed(1)) },
  examplesPerSecond: { median: Math.round(median(perRound.map((r) => r.examples))), best: Math.round(best.examples) },
  cpuMsPerStep: Number(median(perRound.map((r) => r.cpuMs)).toFixed(1)),
  peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
};
console.log(JSON.stringify(report, null, 2));
await trainer.release();
