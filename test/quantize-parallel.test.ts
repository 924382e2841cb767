import { existsSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { encodeModel, loadModelLazy, modelBaseDir, saveModel } from '../src/onnx/index.js';
import { quantizeModel } from '../src/quantize/index.js';
import { smallBertModel } from './quantize-fixtures.js';
import { useTempDir } from './shared-fixtures.js';

// The worker script runs as compiled JavaScript: this test uses the build (npm test builds first).
const built = resolve(dirname(fileURLToPath(import.meta.url)), '../dist/src/quantize/parallel.js');
const hasBuild = existsSync(built) && existsSync(built.replace('parallel.js', 'weight-worker.js'));
if (!hasBuild) console.warn('dist/ is absent (run npm run build): skipping the worker-thread quantization test');

describe.skipIf(!hasBuild)('quantize --threads (worker threads)', () => {
  const dir = useTempDir('quantize-parallel-');

  it('gives byte-identical models to one thread, per tensor and per channel', async () => {
    const path = join(dir, 'model.onnx');
    await saveModel(smallBertModel(5), path);
    const { quantizeWeightsInParallel } = (await import(pathToFileURL(built).href)) as typeof import('../src/quantize/parallel.js');
    for (const options of [{}, { perChannel: true }, { weightType: 'uint8' }]) {
      const model = await loadModelLazy(path, { minLazyBytes: 1024 });
      const source = { label: path, baseDir: modelBaseDir(path) };
      const weightQuantizer = await quantizeWeightsInParallel(model, options, source, 2, 0);
      expect(weightQuantizer).toBeDefined();
      const parallel = quantizeModel(model, options, { ...source, weightQuantizer });
      const single = quantizeModel(model, options, source);
      expect(parallel.report.tensors).toEqual(single.report.tensors);
      expect(Buffer.compare(Buffer.from(encodeModel(parallel.model)), Buffer.from(encodeModel(single.model)))).toBe(0);
    }
  });

  it('with --bits runs no dry run: block quantization does not go through the workers, so no weight is read', async () => {
    const path = join(dir, 'model-bits.onnx');
    await saveModel(smallBertModel(5), path);
    const { quantizeWeightsInParallel } = (await import(pathToFileURL(built).href)) as typeof import('../src/quantize/parallel.js');
    const model = await loadModelLazy(path, { minLazyBytes: 1024 });
    // The weights stay in the file: with it gone, any read of a weight (a dry run) would fail.
    rmSync(path);
    await expect(quantizeWeightsInParallel(model, { bits: 4 }, { label: path, baseDir: modelBaseDir(path) }, 2, 0)).resolves.toBeUndefined();
  });
});
