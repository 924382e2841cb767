/**
 * `npm run bench:nbits`: batch-1 latency of a BERT-base-sized model (110M parameters, built by
 * the graph builder) in float32, dynamic int8 (quantize's default) and 4-bit MatMulNBits at each
 * accuracy level, in one `distillery bench` run (models interleaved block by block, so drift hits
 * all alike), with each one's size. This is the measurement behind --accuracy-level's default.
 *
 *   node dist/scripts/bench-nbits.js [--layers 12] [--hidden 768] [--seq 128] [--iterations 30] [--threads 0] [--keep]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bertConfigJson, buildBertClassifier, defaultBertConfig, type BertConfig } from '../src/architectures/bert.js';
import type { BenchResult } from '../src/bench/index.js';
import { saveModel } from '../src/onnx/index.js';
import { quantizeFile, type QuantizeOptions } from '../src/quantize/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = join(resolve(here, '../..'), 'bin/distillery.js');
const args = process.argv.slice(2);
const num = (name: string, d: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : d;
};

async function main(): Promise<void> {
  const hidden = num('--hidden', 768);
  const config: BertConfig = { ...defaultBertConfig, vocabSize: 30522, hiddenSize: hidden, numHeads: hidden / 64, intermediateSize: 4 * hidden, numLayers: num('--layers', 12), numLabels: 2 };
  const dir = mkdtempSync(join(tmpdir(), 'bench-nbits-'));
  try {
    const fp32 = join(dir, 'fp32.onnx');
    await saveModel(buildBertClassifier(config, { seed: 1 }), fp32);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(bertConfigJson(config, ['a', 'b'])));
    const variants: Array<[string, QuantizeOptions]> = [
      ['int8', {}],
      ['q4-acc0', { bits: 4, accuracyLevel: 0 }],
      ['q4-acc1', { bits: 4, accuracyLevel: 1 }],
      ['q4-acc4', { bits: 4, accuracyLevel: 4 }],
    ];
    const paths = [fp32];
    for (const [name, options] of variants) {
      const out = join(dir, `${name}.onnx`);
      await quantizeFile(fp32, out, options);
      paths.push(out);
    }
    const seq = num('--seq', 128);
    const bench = spawnSync(
      process.execPath,
      [cli, 'bench', ...paths, '-b', '1', '-s', String(seq), '-n', String(num('--iterations', 30)), '--warmup', '5', '--threads', String(num('--threads', 0)), '--no-placement', '--json'],
      { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 },
    );
    if (bench.status !== 0) throw new Error(`distillery bench failed:\n${bench.stderr}`);
    const result = JSON.parse(bench.stdout) as BenchResult;
    const params = (config.vocabSize + config.maxPositions + config.typeVocabSize) * hidden + config.numLayers * (4 * hidden * hidden + 2 * hidden * config.intermediateSize);
    console.log(`BERT-base-sized builder model: ${config.numLayers} layers, hidden ${hidden}, FFN ${config.intermediateSize}, vocab ${config.vocabSize} (~${(params / 1e6).toFixed(0)}M parameters)`);
    console.log(`distillery bench, batch 1, sequence ${seq}, ${result.settings.iterations} timed runs each, threads ${result.settings.threads || 'onnxruntime default'}; ${result.machine.cpuModel ?? ''}`);
    console.log('model     size       of fp32   p50 ms    p90 ms   vs fp32');
    for (const run of result.runs) {
      const path = paths[run.model]!;
      const size = statSync(path).size;
      const base = result.runs.find((r) => r.model === 0)!.latencyMs.p50;
      console.log(
        `${['fp32', ...variants.map((v) => v[0])][run.model]!.padEnd(9)} ${`${(size / 2 ** 20).toFixed(1)} MiB`.padStart(10)} ${(size / statSync(fp32).size).toFixed(3).padStart(8)} ${run.latencyMs.p50.toFixed(2).padStart(8)} ${run.latencyMs.p90.toFixed(2).padStart(9)} ${(run.latencyMs.p50 / base).toFixed(2).padStart(8)}x${run.noisy ? `  (noisy: ${run.noisy})` : ''}`,
      );
    }
  } finally {
    if (!args.includes('--keep')) rmSync(dir, { recursive: true, force: true });
    else console.log(`kept ${dir}`);
  }
}

await main();
