/**
 * `npm run bench:calibrate`: peak memory and time of static quantization (calibration) of a
 * BERT-base-sized model, against the bound the docs state: peak RSS <= 2 x model size + 1 GiB.
 *
 *   node dist/scripts/bench-calibrate.js [--layers 12] [--hidden 768] [--rows 500] [--seq 128]
 *                                        [--batch 8] [--method entropy] [--memory <MiB>] [--keep <dir>]
 *
 * Builds a seeded BERT-base (12 layers, hidden 768, FFN 3072, vocab 30522: 110M parameters)
 * into a temp dir, writes `--rows` token sequences of length `--seq` as a tensor calibration
 * file (`--batch` rows per line), and runs `distillery quantize --mode static` on it in a child
 * process under /usr/bin/time (peak RSS of the whole process, onnxruntime included).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBertClassifier, defaultBertConfig, type BertConfig } from '../src/architectures/bert.js';
import { SeededRandom } from '../src/architectures/random.js';
import { saveModel } from '../src/onnx/index.js';
import { tensorFileLine } from '../src/quantize/calibrate/data.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = join(resolve(here, '../..'), 'bin/distillery.js');
const args = process.argv.slice(2);
const opt = (name: string, d: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : d;
};
const num = (name: string, d: number) => Number(opt(name, String(d)));
const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

async function main(): Promise<void> {
  const config: BertConfig = {
    ...defaultBertConfig,
    vocabSize: 30522,
    hiddenSize: num('--hidden', 768),
    numHeads: 12,
    intermediateSize: 4 * num('--hidden', 768),
    numLayers: num('--layers', 12),
    maxPositions: 512,
    numLabels: 2,
  };
  const rows = num('--rows', 500);
  const seq = num('--seq', 128);
  const batch = num('--batch', 8);
  const method = opt('--method', 'entropy');
  const memory = args.includes('--memory') ? ['--activation-memory', opt('--memory', '1024')] : [];
  const keep = args.includes('--keep') ? opt('--keep', '') : undefined;
  const dir = keep ?? mkdtempSync(join(tmpdir(), 'bench-calibrate-'));
  try {
    const fp32Path = join(dir, 'bert-base.onnx');
    if (!existsSync(fp32Path)) await saveModel(buildBertClassifier(config, { seed: 1 }), fp32Path);
    const size = statSync(fp32Path).size;
    // Token ids spread over the vocabulary, full attention: what a tokenizer would give at length `seq`.
    const rng = new SeededRandom(2);
    const lines: string[] = [];
    for (let start = 0; start < rows; start += batch) {
      const n = Math.min(batch, rows - start);
      const ids = Array.from({ length: n * seq }, (_, i) => (i % seq === 0 ? 101 : i % seq === seq - 1 ? 102 : 1000 + rng.int(config.vocabSize - 1000)));
      lines.push(
        tensorFileLine({
          input_ids: { dims: [n, seq], data: ids },
          attention_mask: { dims: [n, seq], data: new Array<number>(n * seq).fill(1) },
          token_type_ids: { dims: [n, seq], data: new Array<number>(n * seq).fill(0) },
        }),
      );
    }
    const calib = join(dir, 'calibration.jsonl');
    writeFileSync(calib, lines.join('\n') + '\n');

    const out = join(dir, 'bert-base-static.onnx');
    const useTime = existsSync('/usr/bin/time');
    const cmd = useTime ? '/usr/bin/time' : process.execPath;
    const quantizeArgs = [cli, 'quantize', fp32Path, '-o', out, '--force', '--mode', 'static', '--calibrate', calib, '--calibration-method', method, '--calibration-size', String(rows), ...memory, '--json'];
    const t = performance.now();
    const child = spawnSync(cmd, [...(useTime ? ['-f', 'maxrss_kb=%M', process.execPath] : []), ...quantizeArgs], { encoding: 'utf8', maxBuffer: 256 << 20 });
    const ms = performance.now() - t;
    if (child.status !== 0) throw new Error(`quantize failed (${child.status}): ${child.stderr}`);
    const rss = Number(/maxrss_kb=(\d+)/.exec(child.stderr ?? '')?.[1] ?? NaN) * 1024;
    const report = JSON.parse(child.stdout) as { files: { bytesAfter: number; ratio: number }; calibration: { rows: number; batches: number; activations: unknown[]; memory: { passes: number; activationBytes: number; bytesPerRun: number; budgetBytes: number } } };
    const bound = 2 * size + 2 ** 30;
    console.log(`model                 ${mib(size)} (${config.numLayers} layers, hidden ${config.hiddenSize})`);
    console.log(`calibration           ${report.calibration.rows} rows x ${seq} tokens in ${report.calibration.batches} batches, ${method}, ${report.calibration.activations.length} activations`);
    const m = report.calibration.memory;
    console.log(`memory plan           ${mib(m.activationBytes)} of activations per batch, budget ${mib(m.budgetBytes)}: ${m.passes} pass(es) of at most ${mib(m.bytesPerRun)}`);
    console.log(`wall time             ${(ms / 1000).toFixed(1)} s (CLI, child process)`);
    console.log(`peak RSS              ${useTime ? mib(rss) : '(no /usr/bin/time)'}`);
    if (useTime) console.log(`bound 2 x size + 1 GiB ${mib(bound)}: ${rss <= bound ? 'met' : 'NOT met'} (${(rss / bound).toFixed(2)} of it; ${(rss / size).toFixed(2)} x the model)`);
    console.log(`output                ${mib(report.files.bytesAfter)} (${report.files.ratio.toFixed(3)} of fp32)`);
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
