import type { InferenceSession } from 'onnxruntime-node';
import { openSession, ort } from '../runtime/session.js';
import type { FeedData } from './inputs.js';
import { profileDir, readProfile, type Placement } from './placement.js';
import type { BlockResult, ModelRunner, OpenedRunner, ProcessMemory, RunnerOptions } from './runner.js';

/** RSS of this process when the module loaded: onnxruntime and Node, no session yet. */
const baselineRss = process.memoryUsage.rss();

/** A model's session in this process. The worker process wraps one of these too. */
export class SessionRunner implements ModelRunner {
  private session: InferenceSession | undefined;
  private feeds: Record<string, ort.Tensor> = {};
  private stopping = false;
  private profileFolder: string | undefined;

  constructor(private readonly options: RunnerOptions) {}

  async open(): Promise<OpenedRunner> {
    const settings = { ...this.options.settings };
    if (this.options.profile) {
      this.profileFolder = await profileDir();
      settings.profileFilePrefix = `${this.profileFolder}/profile`;
    }
    const rssBeforeOpen = process.memoryUsage.rss();
    const opened = await openSession(this.options.model, settings);
    this.session = opened.session;
    const inputs = opened.session.inputMetadata.map((m) => ({
      name: m.name,
      isTensor: m.isTensor,
      ...(m.isTensor ? { type: m.type, shape: [...m.shape] } : {}),
    }));
    return { createMs: opened.createMs, device: opened.device, inputs, rssBeforeOpen, rssAfterOpen: process.memoryUsage.rss() };
  }

  async setFeeds(feeds: FeedData[]): Promise<void> {
    // Tensors are built here once; the timed loop only passes this record to run().
    const record: Record<string, ort.Tensor> = {};
    for (const f of feeds) record[f.name] = new ort.Tensor(f.type as 'float32', f.data as Float32Array, f.dims);
    this.feeds = record;
  }

  async run(iterations: number): Promise<BlockResult> {
    const session = this.opened();
    const feeds = this.feeds;
    const samples = new Float64Array(iterations);
    this.stopping = false;
    let i = 0;
    for (; i < iterations && !this.stopping; i++) {
      const start = performance.now();
      await session.run(feeds);
      samples[i] = performance.now() - start;
    }
    return { samplesMs: i < iterations ? samples.slice(0, i) : samples, rss: process.memoryUsage.rss() };
  }

  async placement(): Promise<Placement> {
    if (!this.profileFolder) throw new Error('placement() needs a runner opened with profile: true');
    const session = this.opened();
    await session.run(this.feeds);
    const folder = this.profileFolder;
    this.profileFolder = undefined;
    return readProfile(session, folder);
  }

  async memory(): Promise<ProcessMemory> {
    return { peakRssBytes: process.resourceUsage().maxRSS * 1024, baselineRssBytes: baselineRss };
  }

  stop(): void {
    this.stopping = true;
  }

  async close(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    this.feeds = {};
    if (session) await session.release();
    if (this.profileFolder) {
      const { rm } = await import('node:fs/promises');
      await rm(this.profileFolder, { recursive: true, force: true });
      this.profileFolder = undefined;
    }
  }

  private opened(): InferenceSession {
    if (!this.session) throw new Error('runner is not open');
    return this.session;
  }
}
