import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cacheDir } from '../cache-dir.js';
import { makeBatches } from '../data/batching.js';
import type { EncodedExample } from '../data/encode.js';
import { classifyBatches, openClassifier } from '../eval/classifier.js';
import type { SessionSettings } from '../runtime/session.js';

export interface TeacherLogits {
  /** [count, numLabels] row-major, in the order of the examples given. */
  logits: Float32Array;
  numLabels: number;
  count: number;
  /** True when read from the cache instead of computed. */
  cached: boolean;
  file: string;
}

export interface TeacherCacheKey {
  teacherPath: string;
  /** Files the examples came from (hashed by content) and anything else that changes the inputs. */
  dataPaths: string[];
  /** Tokenizer fingerprint + max length + column choices: what turns text into ids. */
  encodingFingerprint: string;
}

async function fileDigest(path: string): Promise<string> {
  const hash = createHash('sha256');
  await new Promise<void>((resolve, reject) => {
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve())
      .on('error', reject);
  });
  return hash.digest('hex');
}

/** The cache key: content hashes of the teacher and the data, plus how text became ids. */
export async function teacherCacheKey(k: TeacherCacheKey): Promise<string> {
  const hash = createHash('sha256');
  hash.update('teacher-logits-v1\n');
  hash.update(await fileDigest(k.teacherPath));
  for (const p of k.dataPaths) hash.update('\n' + (await fileDigest(p)));
  hash.update('\n' + k.encodingFingerprint);
  return hash.digest('hex').slice(0, 32);
}

/**
 * Teacher logits for every example, computed once with onnxruntime (batched, sorted by length)
 * and cached on disk under the cache directory, keyed by teacher + data + encoding. A later
 * run with the same key reads the file instead of running the teacher.
 */
export async function teacherLogits(
  examples: readonly EncodedExample[],
  key: TeacherCacheKey,
  opts: { session?: SessionSettings; batchSize?: number; onProgress?: (done: number, total: number) => void; useCache?: boolean } = {},
): Promise<TeacherLogits> {
  const digest = await teacherCacheKey(key);
  const file = join(cacheDir('teacher-logits'), `${digest}.bin`);
  if ((opts.useCache ?? true) && existsSync(file)) {
    const bytes = await readFile(file);
    const header = bytes.readUInt32LE(0);
    const meta = JSON.parse(bytes.subarray(4, 4 + header).toString('utf8')) as { count: number; numLabels: number };
    if (meta.count === examples.length) {
      const body = bytes.subarray(4 + header);
      const logits = new Float32Array(meta.count * meta.numLabels);
      new Uint8Array(logits.buffer).set(body.subarray(0, logits.byteLength));
      return { logits, numLabels: meta.numLabels, count: meta.count, cached: true, file };
    }
  }
  const teacher = await openClassifier(key.teacherPath, opts.session);
  try {
    const width = teacher.numLabels;
    const batches = makeBatches(examples, opts.batchSize ?? 64);
    const logits = await classifyBatches(teacher, batches, examples.length, (done) => opts.onProgress?.(done, examples.length));
    const header = Buffer.from(JSON.stringify({ count: examples.length, numLabels: width, teacher: key.teacherPath }));
    const len = Buffer.alloc(4);
    len.writeUInt32LE(header.length, 0);
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, Buffer.concat([len, header, Buffer.from(logits.buffer, logits.byteOffset, logits.byteLength)]));
    await rename(tmp, file);
    return { logits, numLabels: width, count: examples.length, cached: false, file };
  } finally {
    await teacher.session.release();
  }
}
