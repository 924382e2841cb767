// npm run bench:eval — eval throughput (read, tokenize, batch, feed, run, score) against a bare
// onnxruntime session.run loop over the same batches, pre-tokenized and pre-padded, interleaved
// over several rounds. Goal: eval >= 0.9 of raw. Each eval round is what a one-shot
// `distillery eval` does: freshly opened models and tokenizer (no word cache warmed by an
// earlier round); model loading is timed apart, as eval reports it.
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeBatches } from '../src/data/batching.js';
import { readAllRecords } from '../src/data/dataset.js';
import { encodeRecords } from '../src/data/encode.js';
import { buildFeeds } from '../src/data/feeds.js';
import { prepareEvaluation, runEvaluation } from '../src/eval/evaluator.js';
import type { ort } from '../src/runtime/session.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const shared = process.env.DISTILLERY_SHARED ?? resolve(root, '../shared');
const modelPath = join(shared, 'models/sst2-bert-mini/model.onnx');
const dataPath = join(shared, 'data/sst2/validation.tsv');

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  if (!existsSync(modelPath) || !existsSync(dataPath)) {
    console.log(`bench:eval: ../shared not found (${shared}); nothing to measure. Set DISTILLERY_SHARED to its path.`);
    return;
  }
  const rounds = flag('rounds', 5);
  const batchSize = flag('batch-size', 32);
  const threads = flag('threads', 0) || undefined;

  const prepared = await prepareEvaluation({ models: [modelPath], data: dataPath, batchSize, session: { threads } });
  const model = prepared.models[0]!;
  const session = model.classifier.session;

  // Raw baseline: identical batches (same tokenizer, sort and padding), tensors built up front.
  const records = await readAllRecords(dataPath);
  const tokenizer = model.group.tokenizer;
  const encoded = encodeRecords(records, tokenizer, prepared.labels, dataPath);
  const batches = makeBatches(encoded, batchSize, { padId: tokenizer.padId });
  const feeds: Record<string, ort.Tensor>[] = batches.map((b) => buildFeeds(model.classifier.feeds, b));
  const examples = records.length;

  const runRaw = async (): Promise<number> => {
    const t0 = performance.now();
    for (const f of feeds) await session.run(f, [model.classifier.outputName]);
    return examples / ((performance.now() - t0) / 1000);
  };
  const loadSeconds: number[] = [];
  const runEval = async (): Promise<number> => {
    const fresh = await prepareEvaluation({ models: [modelPath], data: dataPath, batchSize, session: { threads } });
    try {
      const t0 = performance.now();
      const report = await runEvaluation(fresh);
      if (report.data.examples !== examples) throw new Error('eval saw a different number of examples');
      loadSeconds.push(report.timing.loadSeconds);
      return examples / ((performance.now() - t0) / 1000);
    } finally {
      await fresh.release();
    }
  };

  console.log(
    `bench:eval: sst2-bert-mini on SST-2 validation, ${examples} examples, batch ${batchSize} sorted by length, ` +
      `${batches.length} batches, cpu, ${threads ?? 'default'} threads (${cpus().length} cores), ${rounds} rounds`,
  );
  await runRaw(); // warm-up of the raw loop's session: onnxruntime's first runs allocate and tune
  await runEval(); // warms the OS file cache only: every timed eval round opens its own session and tokenizer
  const evalRates: number[] = [];
  const rawRates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    // Alternate which goes first so drift on a shared machine hits both alike.
    if (r % 2 === 0) {
      evalRates.push(await runEval());
      rawRates.push(await runRaw());
    } else {
      rawRates.push(await runRaw());
      evalRates.push(await runEval());
    }
    console.log(
      `  round ${r + 1}: eval ${evalRates[r]!.toFixed(0)} examples/s, raw session.run ${rawRates[r]!.toFixed(0)} examples/s, ratio ${(evalRates[r]! / rawRates[r]!).toFixed(3)}`,
    );
  }
  const e = median(evalRates);
  const w = median(rawRates);
  const ratio = median(evalRates.map((x, i) => x / rawRates[i]!));
  console.log(`median: eval ${e.toFixed(0)} examples/s, raw ${w.toFixed(0)} examples/s, ratio ${ratio.toFixed(3)} (goal >= 0.9: ${ratio >= 0.9 ? 'met' : 'NOT met'})`);
  console.log(`eval's model and tokenizer loading (not in the rates above): median ${median(loadSeconds.slice(1)).toFixed(2)} s per run`);
  await prepared.release();
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
