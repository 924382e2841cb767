// `npm run bench:bench`: is `distillery bench` honest? Its p50 for sst2-bert-mini at batch 1 /
// seq 64 against a bare session.run loop (scripts/bare-session-loop.ts) in a separate Node
// process. Many short rounds alternate between the two so that drift on a shared machine hits
// both alike; the p50 of all timed runs of each side is compared. Passes within 1.05.
//   BENCH_BENCH_ROUNDS (default 10), BENCH_BENCH_THREADS (default 0: onnxruntime's choice)
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { benchModels } from '../src/bench/index.js';
import { percentile } from '../src/bench/percentiles.js';
import { describeMachine, machineInfo } from '../src/bench/machine.js';

const here = dirname(fileURLToPath(import.meta.url));
// dist/scripts/ -> repository root -> ../shared
const SHARED = resolve(here, '../../../shared');
const model = join(SHARED, 'models/sst2-bert-mini/model.onnx');
const TOLERANCE = 1.05;
const rounds = Number(process.env.BENCH_BENCH_ROUNDS ?? 10);
const threads = Number(process.env.BENCH_BENCH_THREADS ?? 0);
const warmup = 10;
const iterations = 100;
const [batch, seq] = [1, 64];

async function bareSamples(): Promise<number[]> {
  const script = join(here, 'bare-session-loop.js');
  const args = [script, model, String(batch), String(seq), String(warmup), String(iterations), String(threads)];
  const { stdout } = await promisify(execFile)(process.execPath, args, { maxBuffer: 16 * 1024 * 1024 });
  return (JSON.parse(stdout) as { samplesMs: number[] }).samplesMs;
}

async function harnessSamples(): Promise<{ samples: number[]; isolation: string }> {
  const r = await benchModels([model], { batchSizes: [batch], seqLens: [seq], warmup, iterations, threads, placement: false });
  return { samples: r.runs[0]!.samplesMs, isolation: r.settings.isolation };
}

async function mainScript(): Promise<number> {
  if (!existsSync(model)) {
    console.log(`bench:bench: ${model} not found (../shared is absent); nothing to measure`);
    return 0;
  }
  console.log(`bench:bench  sst2-bert-mini batch ${batch} seq ${seq}, ${rounds} rounds of warmup ${warmup} + ${iterations} timed runs each side, threads ${threads || 'default'}`);
  console.log(`machine: ${describeMachine(machineInfo())}`);
  const harness: number[] = [];
  const bare: number[] = [];
  let isolation = '';
  for (let r = 0; r < rounds; r++) {
    // Alternate who goes first so that neither always runs on a warmer (or busier) machine.
    let h: number[] = [];
    let b: number[] = [];
    for (const who of r % 2 === 0 ? ['harness', 'bare'] : ['bare', 'harness']) {
      if (who === 'harness') {
        const run = await harnessSamples();
        h = run.samples;
        isolation = run.isolation;
      } else b = await bareSamples();
    }
    harness.push(...h);
    bare.push(...b);
    const [hp, bp] = [percentile(h, 50), percentile(b, 50)];
    console.log(`round ${String(r + 1).padStart(2)}: distillery bench p50 ${hp.toFixed(3)} ms   bare loop p50 ${bp.toFixed(3)} ms   ratio ${(hp / bp).toFixed(3)}`);
  }
  const h = percentile(harness, 50);
  const b = percentile(bare, 50);
  const ratio = h / b;
  const pass = ratio <= TOLERANCE && ratio >= 1 / TOLERANCE;
  console.log(`all ${harness.length} runs each: distillery bench p50 ${h.toFixed(3)} ms (${isolation}), bare loop p50 ${b.toFixed(3)} ms`);
  console.log(`ratio ${ratio.toFixed(3)} (must be within ${TOLERANCE}): ${pass ? 'PASS' : 'FAIL'}`);
  return pass ? 0 : 1;
}

process.exitCode = await mainScript();
