// The reference for `npm run bench:bench`: the plainest timing loop a user would write around
// session.run, in a process of its own. Prints {"p50": ms, "samplesMs": [...]} on stdout.
//   node dist/scripts/bare-session-loop.js <model.onnx> <batch> <seq> <warmup> <iterations> [threads]
import { openSession, ort } from '../src/runtime/session.js';

const [model, batchArg, seqArg, warmupArg, iterationsArg, threadsArg] = process.argv.slice(2);
if (!model || !batchArg || !seqArg || !warmupArg || !iterationsArg) {
  process.stderr.write('usage: bare-session-loop <model.onnx> <batch> <seq> <warmup> <iterations> [threads]\n');
  process.exit(2);
}
const batch = Number(batchArg);
const seq = Number(seqArg);
const { session } = await openSession(model, { device: 'cpu', threads: Number(threadsArg ?? 0) });

// BERT-style inputs: [CLS] word ids [SEP], mask 1, token types 0 (values do not change the work).
const ids = new BigInt64Array(batch * seq);
let state = 12345;
for (let i = 0; i < ids.length; i++) {
  state = (state * 1103515245 + 12345) % 2147483648;
  const j = i % seq;
  ids[i] = BigInt(j === 0 ? 101 : j === seq - 1 ? 102 : 999 + (state % (30522 - 999)));
}
const feeds = {
  input_ids: new ort.Tensor('int64', ids, [batch, seq]),
  attention_mask: new ort.Tensor('int64', new BigInt64Array(batch * seq).fill(1n), [batch, seq]),
  token_type_ids: new ort.Tensor('int64', new BigInt64Array(batch * seq), [batch, seq]),
};

for (let i = 0; i < Number(warmupArg); i++) await session.run(feeds);
const samples: number[] = [];
for (let i = 0; i < Number(iterationsArg); i++) {
  const start = performance.now();
  await session.run(feeds);
  samples.push(performance.now() - start);
}
await session.release();
const sorted = [...samples].sort((a, b) => a - b);
const mid = (sorted.length - 1) / 2;
const p50 = (sorted[Math.floor(mid)]! + sorted[Math.ceil(mid)]!) / 2;
process.stdout.write(JSON.stringify({ p50, samplesMs: samples }) + '\n');
