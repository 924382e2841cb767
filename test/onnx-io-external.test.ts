import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../src/errors.js';
import {
  encodeModel,
  loadModel,
  loadModelLazy,
  readExternalData,
  saveModel,
  tensorToArray,
  type ModelProto,
  type TensorProto,
} from '../src/onnx/index.js';
import { quantizeFile, quantizeModel } from '../src/quantize/index.js';
import { smallBertModel } from './quantize-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'onnx-io-external-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const location = (t: TensorProto) => Object.fromEntries((t.externalData ?? []).map((e) => [e.key, e.value]));
const sameTensors = (a: ModelProto, b: ModelProto) => {
  const bs = new Map(b.graph!.initializer!.map((t) => [t.name, t]));
  expect(a.graph!.initializer!.length).toBe(bs.size);
  for (const t of a.graph!.initializer!) expect(tensorToArray(bs.get(t.name)!), t.name!).toEqual(tensorToArray(t));
};

describe('external data', () => {
  const model = smallBertModel(5);

  it('saveModel with externalData: true writes <model>.data (4 KiB aligned) and loadModel reads it back', async () => {
    const path = join(dir, 'ext.onnx');
    const saved = await saveModel(model, path, { externalData: true });
    expect(saved.externalDataPath).toBe(path + '.data');
    expect(existsSync(path + '.data')).toBe(true);
    expect(saved.bytes).toBeLessThan(20_000); // structure and small tensors only
    expect(statSync(path + '.data').size).toBe(saved.externalDataBytes);
    // The in-memory model is untouched by the save.
    expect(model.graph!.initializer!.every((t) => t.dataLocation !== 1)).toBe(true);
    const raw = await loadModelLazy(path, { minLazyBytes: Infinity });
    const external = raw.graph!.initializer!.filter((t) => t.dataLocation === 1);
    expect(external.length).toBeGreaterThan(10);
    for (const t of external) {
      expect(location(t).location).toBe('ext.onnx.data');
      expect(Number(location(t).offset) % 4096).toBe(0);
    }
    sameTensors(await loadModel(path), model);
    // Tensors under the threshold stay inline.
    expect(raw.graph!.initializer!.some((t) => t.dataLocation !== 1 && t.rawData?.length)).toBe(true);
  });

  it("'auto' moves data out only past the limit (2 GiB by default; a small limit stands in for it here)", async () => {
    const inline = await saveModel(model, join(dir, 'auto-inline.onnx'));
    expect(inline.externalDataPath).toBeUndefined();
    const small = await saveModel(model, join(dir, 'auto-ext.onnx'), { externalData: 'auto', autoExternalBytes: 100_000 });
    expect(small.externalDataPath).toBe(join(dir, 'auto-ext.onnx.data'));
    sameTensors(await loadModel(join(dir, 'auto-ext.onnx')), model);
    // An existing .data file is not replaced without force.
    await expect(saveModel(model, join(dir, 'auto-ext2.onnx'), { externalData: true }).then(() => saveModel(model, join(dir, 'auto-ext2.onnx'), { externalData: true }))).rejects.toThrow(/already exists/);
  });

  it('a missing, truncated or escaping external data file is a UserError naming the model and tensor', async () => {
    const path = join(dir, 'broken.onnx');
    await saveModel(model, path, { externalData: true });
    truncateSync(path + '.data', 1000);
    await expect(loadModel(path)).rejects.toThrow(UserError);
    await expect(loadModel(path)).rejects.toThrow(/broken\.onnx: tensor .*: external data file broken\.onnx\.data is truncated/);
    rmSync(path + '.data');
    await expect(loadModel(path)).rejects.toThrow(/broken\.onnx: tensor .*: external data file broken\.onnx\.data not found next to the model/);
    // quantize says the same, and writes nothing.
    const out = join(dir, 'broken-int8.onnx');
    await expect(quantizeFile(path, out)).rejects.toThrow(/broken\.onnx: tensor .*external data file broken\.onnx\.data not found/);
    expect(existsSync(out)).toBe(false);

    const escaping = structuredClone(await loadModelLazy(join(dir, 'ext.onnx'), { minLazyBytes: Infinity }));
    const t = escaping.graph!.initializer!.find((x) => x.dataLocation === 1)!;
    t.externalData = [{ key: 'location', value: '../../etc/passwd' }];
    writeFileSync(join(dir, 'escape.onnx'), encodeModel(escaping));
    await expect(loadModel(join(dir, 'escape.onnx'))).rejects.toThrow(/is not a file next to the model/);
  });

  it('quantizes a model kept in external data: reads weights from the .data file, writes one self-contained file', async () => {
    const input = join(dir, 'ext.onnx');
    const output = join(dir, 'ext-int8.onnx');
    const report = await quantizeFile(input, output);
    expect(existsSync(output + '.data')).toBe(false);
    // Sizes count the .data file too.
    expect(report.files!.bytesBefore).toBe(statSync(input).size + statSync(input + '.data').size);
    const direct = quantizeModel(model).model;
    sameTensors(await loadModel(output), direct);
    // And into external data when asked.
    const split = join(dir, 'ext-int8-split.onnx');
    const again = await quantizeFile(input, split, { externalData: true });
    expect(existsSync(split + '.data')).toBe(true);
    expect(again.files!.bytesAfter).toBe(statSync(split).size + statSync(split + '.data').size);
    sameTensors(await loadModel(split), direct);
  });
});

describe('loadModelLazy', () => {
  it('leaves large initializers on disk as references into the model file, and reads them back identically', async () => {
    const model = smallBertModel(6);
    const path = join(dir, 'lazy.onnx');
    await saveModel(model, path);
    const lazy = await loadModelLazy(path, { minLazyBytes: 4096 });
    const refs = lazy.graph!.initializer!.filter((t) => t.dataLocation === 1);
    expect(refs.map((t) => t.name)).toContain('bert.embeddings.word_embeddings.weight');
    for (const t of refs) {
      expect(t.rawData?.length ?? 0).toBe(0);
      expect(location(t).location).toBe('lazy.onnx');
      expect(Number(location(t).length)).toBeGreaterThanOrEqual(4096);
    }
    readExternalData(lazy, dir, path);
    sameTensors(lazy, await loadModel(path));
    expect(Buffer.compare(Buffer.from(encodeModel(lazy)), Buffer.from(encodeModel(await loadModel(path))))).toBe(0);
  });

  it('reports bad files exactly as loadModel does', async () => {
    const bad = join(dir, 'bad.onnx');
    writeFileSync(bad, 'not a model at all');
    await expect(loadModelLazy(bad)).rejects.toThrow(/bad\.onnx: not an ONNX model/);
    await expect(loadModelLazy(join(dir, 'absent.onnx'))).rejects.toThrow(/absent\.onnx: no such file/);
    expect(readdirSync(dir).some((f) => f.endsWith('.tmp'))).toBe(false);
  });
});
