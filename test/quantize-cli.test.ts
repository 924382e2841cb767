import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { checkModel, DataType, encodeModel, GraphBuilder, loadModel, saveModel } from '../src/onnx/index.js';
import { openSession } from '../src/runtime/session.js';
import { cli } from './cli-run.js';
import { smallBertModel } from './quantize-fixtures.js';
import { outlierModel } from './quantize-prep-fixtures.js';

describe('distillery quantize (CLI)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'quantize-cli-'));
  const model = join(dir, 'model.onnx');
  const noOps = join(dir, 'relu.onnx');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(() => {
    process.exitCode = undefined;
  });

  beforeAll(async () => {
    await saveModel(smallBertModel(3), model);
    const b = new GraphBuilder({ opset: 17 });
    b.node('Relu', [b.input('x', DataType.FLOAT, [2])], { outputs: ['y'] });
    b.output('y');
    await saveModel(b.build(), noOps);
  });

  /** A bad input: non-zero exit, one line on stderr naming the file and the problem, nothing written. */
  async function expectBadInput(args: string[], file: string, problem: RegExp, output: string) {
    const before = readdirSync(dir).sort();
    const r = await cli(...args);
    expect(r.code).not.toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toContain(file);
    expect(lines[0]).toMatch(problem);
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/); // no stack trace
    expect(existsSync(output)).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(before); // no temp files left either
  }

  it('quantizes, prints the report, and writes the output atomically', async () => {
    const out = join(dir, 'int8.onnx');
    const r = await cli('quantize', model, '-o', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Quantized 15 tensors \(dynamic, ms, int8 symmetric, per-tensor\)/);
    expect(r.stdout).toMatch(/bert\.embeddings\.word_embeddings\.weight\s+Gather\s+\[1000, 64\]/);
    expect(r.stdout).toMatch(/SQNR dB/);
    expect(r.stdout).toMatch(/classifier\.weight is too small/);
    expect(r.stdout).toMatch(/Size: .* -> .* \(0\.\d+ of the input\)/);
    expect(existsSync(out)).toBe(true);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    // Never over an existing file without --force; with --force, fine.
    await expectBadInput(['quantize', model, '-o', out], out, /already exists \(use --force to overwrite\)/, join(dir, 'never'));
    const again = await cli('quantize', model, '-o', out, '--force', '--json', '--per-channel', '--format', 'qoperator');
    expect(again.code).toBe(0);
    const json = JSON.parse(again.stdout);
    expect(json.written).toBe(true);
    expect(json.options).toMatchObject({ format: 'qoperator', perChannel: true, weightType: 'int8', symmetric: true });
    expect(json.tensors[0]).toMatchObject({ name: 'bert.embeddings.word_embeddings.weight', shape: [1000, 64], dtype: 'int8', axis: 1 });
    expect(json.tensors[0].scale).toHaveLength(64);
    expect(json.decisions.some((d: { status: string; reason?: string }) => d.status === 'skipped' && /not a constant/.test(d.reason ?? ''))).toBe(true);
    expect(json.files.ratio).toBeLessThan(0.35);
  });

  it('refuses to write over the input, even with --force', async () => {
    const before = readFileSync(model);
    const r = await cli('quantize', model, '-o', model, '--force');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/model\.onnx: refusing to overwrite the input model/);
    expect(Buffer.compare(readFileSync(model), before)).toBe(0);
  });

  it('missing file', async () => {
    const missing = join(dir, 'missing.onnx');
    await expectBadInput(['quantize', missing, '-o', join(dir, 'o1.onnx')], missing, /no such file/, join(dir, 'o1.onnx'));
  });

  it('not ONNX', async () => {
    const text = join(dir, 'notes.onnx');
    writeFileSync(text, 'this is a text file, not a model\n'.repeat(20));
    await expectBadInput(['quantize', text, '-o', join(dir, 'o2.onnx')], text, /not an ONNX model/, join(dir, 'o2.onnx'));
    rmSync(text);
    const json = join(dir, 'config.onnx');
    writeFileSync(json, JSON.stringify({ hidden_size: 64 }));
    await expectBadInput(['quantize', json, '-o', join(dir, 'o2.onnx')], json, /not an ONNX model/, join(dir, 'o2.onnx'));
    const png = join(dir, 'image.onnx');
    writeFileSync(png, Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'));
    await expectBadInput(['quantize', png, '-o', join(dir, 'o2.onnx')], png, /not an ONNX model/, join(dir, 'o2.onnx'));
    rmSync(png);
    rmSync(json);
  });

  it('truncated file', async () => {
    const bytes = readFileSync(model);
    const cut = join(dir, 'cut.onnx');
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await expectBadInput(['quantize', cut, '-o', join(dir, 'o3.onnx')], cut, /truncated or corrupt ONNX file/, join(dir, 'o3.onnx'));
    rmSync(cut);
  });

  it('IR version newer than onnxruntime supports', async () => {
    const future = join(dir, 'ir12.onnx');
    const m = smallBertModel(3);
    m.irVersion = 12;
    writeFileSync(future, encodeModel(m));
    await expectBadInput(['quantize', future, '-o', join(dir, 'o4.onnx')], future, /IR version 12 is newer than onnxruntime here supports \(<= 11\)/, join(dir, 'o4.onnx'));
    rmSync(future);
  });

  it('model with no quantizable op: says so, exit 6, writes nothing unless --allow-empty', async () => {
    const out = join(dir, 'relu-int8.onnx');
    await expectBadInput(['quantize', noOps, '-o', out], noOps, /warning: .*no MatMul\/Gemm\/Gather node.*nothing written \(--allow-empty writes it anyway\)/, out);
    const plain = await cli('quantize', noOps, '-o', out);
    expect(plain.code).toBe(6);
    const json = await cli('quantize', noOps, '-o', out, '--json');
    expect(json.code).toBe(6);
    const doc = JSON.parse(json.stdout);
    expect(doc).toMatchObject({ schema: 'onnx-distillery/quantize@1', written: false, quantizedNothing: true });
    expect(existsSync(out)).toBe(false);
    // --force alone only overwrites; it does not turn an empty run into a success.
    expect((await cli('quantize', noOps, '-o', out, '--force')).code).toBe(6);
    const allowed = await cli('quantize', noOps, '-o', out, '--allow-empty');
    expect(allowed.code).toBe(0);
    expect(allowed.stdout).toMatch(/Quantized nothing .*--allow-empty/);
    expect(existsSync(out)).toBe(true);
    rmSync(out);
  });

  it('unknown node names are errors listing near matches', async () => {
    const out = join(dir, 'o5.onnx');
    await expectBadInput(
      ['quantize', model, '-o', out, '--exclude-nodes', 'MatMul_1,MatMul_99'],
      model,
      /--exclude-nodes: no node named "MatMul_99".*nearest: "MatMul_\d+"/,
      out,
    );
    await expectBadInput(['quantize', model, '-o', out, '--include-nodes', 'Gathr_2'], model, /--include-nodes: no node named "Gathr_2"; nearest: "Gather_2"/, out);
  });

  it('a missing output directory is created (as distill does), and removed again when quantize fails', async () => {
    const out = join(dir, 'new-dir', 'deeper', 'o6.onnx');
    const ok = await cli('quantize', model, '-o', out);
    expect(ok.code, ok.stderr).toBe(0);
    expect(existsSync(out)).toBe(true);
    rmSync(join(dir, 'new-dir'), { recursive: true });
    const failing = join(dir, 'never-made', 'deeper', 'o6.onnx');
    expect((await cli('quantize', noOps, '-o', failing)).code).toBe(6);
    expect(existsSync(join(dir, 'never-made'))).toBe(false);
  });

  it('unwritable output directory', async () => {
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'x');
    await expectBadInput(['quantize', model, '-o', join(file, 'o7.onnx')], file, /is not a directory/, join(file, 'o7.onnx'));
    rmSync(file);
    if (process.getuid?.() !== 0) {
      const ro = join(dir, 'read-only');
      mkdirSync(ro, { mode: 0o555 });
      await expectBadInput(['quantize', model, '-o', join(ro, 'o8.onnx')], ro, /is not writable/, join(ro, 'o8.onnx'));
    }
  });

  it('unsupported settings are rejected clearly', async () => {
    const out = join(dir, 'o9.onnx');
    for (const [flags, problem] of [
      [['--bits', '3'], /--bits 3: expected 4 or 8/],
      [['--bits', '4', '--block-size', '24'], /--block-size 24: expected a power of two >= 16/],
      [['--block-size', '64'], /--block-size needs --bits 4 or --bits 8/],
      [['--mode', 'static'], /--mode static needs --calibrate <file>/],
      [['--mode', 'qat'], /--mode qat: unknown mode \(expected dynamic or static\)/],
      [['--format', 'tflite'], /--format tflite: unknown format/],
      [['--op-types', 'MatMul,Softmax'], /--op-types Softmax: no quantization rule/],
      [['--symmetric', '--asymmetric'], /mutually exclusive/],
    ] as const) {
      const r = await cli('quantize', model, '-o', out, ...flags);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(problem);
      expect(existsSync(out)).toBe(false);
    }
  });
});

describe('distillery quantize --min-sqnr / --node-report (accuracy guard)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'quantize-guard-cli-'));
  const model = join(dir, 'outlier.onnx');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  beforeAll(async () => {
    await saveModel(outlierModel(), model);
  });

  it('reverts the crushed layer, reports it, writes a valid model', async () => {
    const out = join(dir, 'guarded.onnx');
    const r = await cli('quantize', model, '-o', out, '--min-sqnr', '30', '--node-report');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Accuracy guard \(output SQNR \(dB\), min 30 dB\): .* with all 3 nodes int8 -> .*: met/);
    expect(r.stdout).toMatch(/Reverted to float \(1\)\s+node\s+op.*\n-+.*\nfc2\s+MatMul/);
    expect(r.stdout).toMatch(/2 of 3 nodes stay int8/);
    expect(r.stdout).toMatch(/Per-node error on 8 seeded sample inputs, worst first\s+node.*\n-+.*\nfc2\s+MatMul\s+fc2_out/);
    const written = await loadModel(out);
    expect(checkModel(written)).toEqual([]);
    await (await openSession(out)).session.release();
    const json = await cli('quantize', model, '-o', out, '--force', '--min-sqnr', '30', '--json');
    const doc = JSON.parse(json.stdout);
    expect(doc).toMatchObject({ written: true, guard: { met: true, int8Nodes: 2, reverted: [{ node: 'fc2', opType: 'MatMul' }] } });
  });

  it('a budget met only with every node in float: exit 3, nothing written', async () => {
    const out = join(dir, 'never.onnx');
    const r = await cli('quantize', model, '-o', out, '--min-sqnr', '1000');
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/the budget \(min 1000 dB\) is met only with all 3 nodes back in float; nothing written/);
    expect(existsSync(out)).toBe(false);
  });

  it('--eval-data without a guard or report is an error; --max-drop needs --eval-data', async () => {
    expect((await cli('quantize', model, '-o', join(dir, 'x.onnx'), '--eval-data', 'x.tsv')).stderr).toMatch(/--eval-data and --samples go with/);
    expect((await cli('quantize', model, '-o', join(dir, 'x.onnx'), '--max-drop', '1')).stderr).toMatch(/--max-drop needs --eval-data/);
  });

  it('--max-drop and --node-report take --eval-data with named labels (the node-error feeds once tried to map them)', async () => {
    const data = join(dir, 'named-labels.jsonl');
    writeFileSync(data, ['free money now', 'see you at lunch', 'win a prize today', 'the meeting moved'].map((t, i) => JSON.stringify({ text: t, label: i % 2 ? 'ham' : 'spam' })).join('\n') + '\n');
    const out = join(dir, 'guarded', 'model.onnx');
    const r = await cli('quantize', 'fixtures/tiny-bert/model.onnx', '-o', out, '--max-drop', '100', '--eval-data', data, '--node-report', '--samples', '4');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Accuracy guard \(accuracy drop \(points\), max 100 points\): .*: met/);
    expect(r.stdout).toMatch(/Per-node error on 1 batches of --eval-data rows/);
    expect(checkModel(await loadModel(out))).toEqual([]);
  });
});
