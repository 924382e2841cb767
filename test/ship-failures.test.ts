// The failures a new user hit (issue 10), one test each: temp files after a signal or an error,
// graphs reading undefined values, NaN weights, a vocab_size past the embedding table,
// companion files, and flags that must behave the same in every command.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { evaluate } from '../src/eval/index.js';
import { DataType, decodeModel, encodeModel, GraphBuilder, loadModel, makeTensor, tensorToFloat32, type ModelProto } from '../src/onnx/index.js';
import { UserError } from '../src/errors.js';
import { cli, distBuilt, fixtures, repoRoot, spawnCli, spawnNode } from './cli-run.js';

const tinyBert = join(fixtures, 'tiny-bert', 'model.onnx');
const testData = join(fixtures, 'data', 'spam-test.jsonl');
const trainData = join(fixtures, 'data', 'spam-train.jsonl');
const dir = mkdtempSync(join(tmpdir(), 'ship-failures-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A copy of the tiny BERT fixture folder (model, config.json, vocab.txt) with the model changed. */
async function variant(name: string, change: (m: ModelProto) => void): Promise<string> {
  const folder = join(dir, name);
  mkdirSync(folder, { recursive: true });
  for (const f of ['config.json', 'vocab.txt']) copyFileSync(join(fixtures, 'tiny-bert', f), join(folder, f));
  const model = await loadModel(tinyBert);
  change(model);
  writeFileSync(join(folder, 'model.onnx'), encodeModel(model));
  return join(folder, 'model.onnx');
}

const tempFiles = (folder: string) => readdirSync(folder).filter((f) => f.endsWith('.tmp'));

describe('temporary files', () => {
  it.skipIf(!distBuilt).each(['SIGINT', 'SIGTERM'] as const)(
    'a %s while a temp file is registered removes it and ends the process, even with another handler installed',
    async (signal) => {
      const tmp = join(dir, `signal-${signal}.abc.tmp`);
      const script =
        `import { trackTempFile } from ${JSON.stringify(join(repoRoot, 'dist/src/temp-files.js'))};\n` +
        `import { writeFileSync } from 'node:fs';\n` +
        `writeFileSync(${JSON.stringify(tmp)}, 'partial');\n` +
        `trackTempFile(${JSON.stringify(tmp)});\n` +
        // A training loop's graceful-stop handler would otherwise keep the process alive.
        `process.on('${signal}', () => {});\n` +
        `process.kill(process.pid, '${signal}');\n` +
        `setTimeout(() => console.log('survived'), 3000);\n`;
      const r = await spawnNode(['--input-type=module', '-e', script]);
      expect(r.signal).toBe(signal);
      expect(r.stdout).not.toContain('survived');
      expect(existsSync(tmp)).toBe(false);
    },
  );

  it.skipIf(!distBuilt)('Ctrl-C while quantize writes a large model leaves no <out>.<hex>.tmp', async () => {
    const folder = join(dir, 'sigint-quantize');
    mkdirSync(folder);
    // One 2048 x 4096 MatMul: 32 MiB in, 8 MiB written, long enough to be interrupted mid-write.
    const b = new GraphBuilder({ opset: 17 });
    const w = new Float32Array(2048 * 4096).map((_, i) => Math.sin(i) * 0.05);
    b.node('MatMul', [b.input('x', DataType.FLOAT, ['n', 2048]), b.initializer('w', w, [2048, 4096])], { outputs: ['y'] });
    b.output('y');
    const input = join(dir, 'big.onnx');
    writeFileSync(input, encodeModel(b.build()));
    const out = join(folder, 'big-int8.onnx');
    let sent = false;
    const r = await spawnCli(['quantize', input, '-o', out], (child) => {
      // Interrupt as soon as the temporary file appears.
      const watcher = watch(folder, (_, name) => {
        if (!sent && name?.endsWith('.tmp')) {
          sent = true;
          child.kill('SIGINT');
          watcher.close();
        }
      });
      child.on('exit', () => watcher.close());
    });
    expect(tempFiles(folder)).toEqual([]);
    if (sent && r.signal === 'SIGINT') expect(existsSync(out)).toBe(false);
    // Interrupted after the rename (the signal arrived late): the output is complete and valid.
    if (existsSync(out)) expect(() => decodeModel(new Uint8Array(readFileSync(out)))).not.toThrow();
  });

  it('an error while writing (the output path is a folder) removes the temp file, exit 2', async () => {
    const folder = join(dir, 'rename-fails');
    mkdirSync(join(folder, 'model-int8.onnx'), { recursive: true });
    writeFileSync(join(folder, 'model-int8.onnx', 'keep'), 'x');
    const r = await cli('quantize', tinyBert, '-o', join(folder, 'model-int8.onnx'), '--force');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/model-int8\.onnx: cannot write model/);
    expect(tempFiles(folder)).toEqual([]);
  });
});

describe('a graph whose nodes read values nothing produces', () => {
  let dangling: string;
  it('is refused at load, naming the node', async () => {
    dangling = await variant('dangling', (m) => {
      const node = m.graph!.node!.find((n) => n.opType === 'MatMul')!;
      node.name = 'the_matmul';
      node.input![0] = 'corrupted_nam3';
    });
    await expect(loadModel(dangling)).rejects.toThrow(UserError);
    await expect(loadModel(dangling)).rejects.toThrow(/corrupt graph: node the_matmul \(MatMul\) reads "corrupted_nam3", which no node, graph input or initializer produces/);
  });

  it('inspect, quantize and eval exit 2 with that message and write nothing', async () => {
    const out = join(dir, 'dangling-out', 'model.onnx');
    for (const args of [['inspect', dangling], ['quantize', dangling, '-o', out]]) {
      const r = await cli(...args);
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/node the_matmul \(MatMul\) reads "corrupted_nam3"/);
    }
    // eval hands the file to onnxruntime, whose own refusal names the value.
    const r = await cli('eval', '--model', dangling, '--data', testData);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/onnxruntime cannot load this model: .*Node input 'corrupted_nam3' is not a graph input/);
    expect(existsSync(join(dir, 'dangling-out'))).toBe(false);
  });
});

describe('non-finite weights and logits', () => {
  let nan: string;
  it('eval counts the examples, warns, and fails with exit 2 (and fails the gates)', async () => {
    nan = await variant('nan', (m) => {
      const t = m.graph!.initializer!.find((x) => x.name === 'classifier.weight')!;
      const v = tensorToFloat32(t);
      v[0] = NaN;
      Object.assign(t, makeTensor(t.name!, v, t.dims!.map(Number)));
    });
    const r = await cli('eval', '--model', nan, '--teacher', tinyBert, '--data', testData, '--max-drop', '100', '--json');
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout);
    expect(doc.models[1].nonFinite).toBe(24);
    expect(doc.models[0].nonFinite).toBe(0);
    expect(doc.passed).toBe(false);
    expect(doc.gates.filter((g: { passed: boolean }) => !g.passed).map((g: { bound: string }) => g.bound).sort()).toEqual(['max-drop', 'non-finite']);
    expect(r.stderr).toMatch(/nan\/model: 24 of 24 examples gave non-finite logits/);
    expect(r.stderr).toMatch(/^error: nan\/model: 24 examples gave NaN or infinite logits$/m);
  });

  it('a healthy model reports nonFinite 0 and passes', async () => {
    const r = await cli('eval', '--model', tinyBert, '--data', testData, '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).models[0].nonFinite).toBe(0);
  });
});

describe('config.json vocab_size larger than the embedding table', () => {
  it('is the same clear exit-2 message as without vocab_size', async () => {
    const folder = join(dir, 'big-vocab-size');
    mkdirSync(folder);
    copyFileSync(tinyBert, join(folder, 'model.onnx'));
    // 1000 tokens for a 400-row table; config.json claims 1000 rows.
    const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...Array.from({ length: 995 }, (_, i) => `tok${i}`)];
    writeFileSync(join(folder, 'vocab.txt'), vocab.join('\n') + '\n');
    const config = JSON.parse(readFileSync(join(fixtures, 'tiny-bert', 'config.json'), 'utf8'));
    const expected = /vocab\.txt: the tokenizer has 1000 tokens but .*model\.onnx has 400 embedding rows \(its word-embedding table\); wrong tokenizer for this model/;
    for (const vocabSize of [1000, undefined]) {
      writeFileSync(join(folder, 'config.json'), JSON.stringify({ ...config, vocab_size: vocabSize }));
      const r = await cli('eval', '--model', join(folder, 'model.onnx'), '--data', testData);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(expected);
    }
  });
});

describe('the same flags everywhere', () => {
  it('--threads 0 is accepted by eval, bench and distill, and -1 refused by each with exit 2', async () => {
    expect((await cli('eval', '--model', tinyBert, '--data', testData, '--threads', '0')).code).toBe(0);
    expect((await cli('bench', tinyBert, '--seq-len', '16', '--iterations', '2', '--warmup', '1', '--threads', '0')).code).toBe(0);
    const out = join(dir, 'threads0', 'student.onnx');
    const d = await cli('distill', '--teacher', tinyBert, '--student-config', 'layers=1,hidden=16,heads=2,ffn=32', '--train', trainData, '-o', out, '--max-steps', '1', '--threads', '0', '--quiet');
    expect(d.code, d.stderr).toBe(0);
    for (const args of [
      ['eval', '--model', tinyBert, '--data', testData],
      ['bench', tinyBert, '--seq-len', '16'],
      ['distill', '--teacher', tinyBert, '--student-config', 'layers=1', '--train', trainData, '-o', join(dir, 'x', 'y.onnx')],
    ]) {
      const r = await cli(...args, '--threads', '-1');
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/--threads/);
    }
  });

  it('distill without a tokenizer next to the teacher does not suggest a --tokenizer flag, and leaves no empty folders', async () => {
    const folder = join(dir, 'no-tokenizer');
    mkdirSync(folder);
    copyFileSync(tinyBert, join(folder, 'model.onnx'));
    const out = join(dir, 'distill-out', 'deeper', 'student.onnx');
    const r = await cli('distill', '--teacher', join(folder, 'model.onnx'), '--student-config', 'layers=1,hidden=16,heads=2,ffn=32', '--train', trainData, '-o', out);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no tokenizer next to the model/);
    expect(r.stderr).not.toMatch(/--tokenizer/);
    expect(existsSync(join(dir, 'distill-out'))).toBe(false);
    // A failure after the output folders exist (unreadable training data) removes them too.
    const late = await cli('distill', '--teacher', tinyBert, '--student-config', 'layers=1,hidden=16,heads=2,ffn=32', '--train', join(dir, 'missing.jsonl'), '-o', out);
    expect(late.code).toBe(2);
    expect(existsSync(join(dir, 'distill-out'))).toBe(false);
  });

  it('eval without a tokenizer does suggest --tokenizer (it has one)', async () => {
    const r = await cli('eval', '--model', join(dir, 'no-tokenizer', 'model.onnx'), '--data', testData);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/pass --tokenizer/);
  });
});

describe('eval progress', () => {
  it('moves per batch on data far under one 4096-row chunk', async () => {
    const seen: number[] = [];
    await evaluate({ models: [tinyBert], teacher: tinyBert, data: testData, batchSize: 4, onProgress: (p) => seen.push(p.examples) });
    expect(seen[0]).toBe(0);
    expect(seen.at(-1)).toBe(24);
    expect(new Set(seen).size).toBeGreaterThan(5);
    expect(seen.every((v, i) => i === 0 || v >= seen[i - 1]!)).toBe(true);
  });
});

describe('--device webgpu', () => {
  it('is accepted by eval, bench and distill; without a GPU adapter it is one clear line, exit 2', async () => {
    const out = join(dir, 'webgpu', 'student.onnx');
    for (const args of [
      ['eval', '--model', tinyBert, '--data', testData],
      ['bench', tinyBert, '--seq-len', '16', '--iterations', '2', '--warmup', '1', '--no-isolate'],
      ['distill', '--teacher', tinyBert, '--student-config', 'layers=1,hidden=16,heads=2,ffn=32', '--train', trainData, '-o', out, '--max-steps', '1', '--quiet'],
    ]) {
      const r = await cli(...args, '--device', 'webgpu');
      if (r.code === 0) continue; // a machine with a WebGPU adapter runs it
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(2);
      // One error line; onnxruntime's native Dawn/Vulkan messages stay out of it.
      expect(r.stderr.trim().split('\n').filter((l) => !l.startsWith('warning: ')), args[0]).toEqual([
        'error: --device webgpu: onnxruntime found no WebGPU adapter on this machine ("No supported adapters": no GPU, or no Vulkan driver); run with --device cpu',
      ]);
    }
    expect((await cli('eval', '--model', tinyBert, '--data', testData, '--device', 'tpu')).stderr).toMatch(/unknown device "tpu" \(expected cpu, cuda, webgpu or auto\)/);
  });
});

describe('quantize of an already-quantized model', () => {
  it('says so in one line with the nothing-quantized exit code (6), writes nothing', async () => {
    const int8 = join(dir, 'int8-once', 'model.onnx');
    expect((await cli('quantize', tinyBert, '-o', int8)).code).toBe(0);
    const again = join(dir, 'int8-twice', 'model.onnx');
    const r = await cli('quantize', int8, '-o', again);
    expect(r.code).toBe(6);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/int8-once\/model\.onnx: already quantized \(its weights are stored as integers\); /);
    expect(existsSync(join(dir, 'int8-twice'))).toBe(false);
  });
});

describe('onnxruntime-node dropped by npm (its install script failed)', () => {
  it("is recognised from Node's import error, and not confused with other missing packages", async () => {
    const { isOnnxruntimeMissing, onnxruntimeMissingHint } = await import('../src/runtime/missing-onnxruntime.js');
    const missing = (name: string) =>
      Object.assign(new Error(`Cannot find package '${name}' imported from /app/node_modules/onnx-distillery/dist/src/runtime/session.js`), { code: 'ERR_MODULE_NOT_FOUND' });
    expect(isOnnxruntimeMissing(missing('onnxruntime-node'))).toBe(true);
    expect(isOnnxruntimeMissing(missing('onnxruntime-common'))).toBe(false);
    expect(isOnnxruntimeMissing(new Error("Cannot find package 'onnxruntime-node'"))).toBe(false);
    expect(onnxruntimeMissingHint).toMatch(/ONNXRUNTIME_NODE_INSTALL=skip/);
  });
});
