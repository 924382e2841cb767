import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.js';
import type { FeedData } from './inputs.js';
import type { Placement } from './placement.js';
import type { BlockResult, ModelRunner, OpenedRunner, ProcessMemory, RunnerOptions } from './runner.js';
import type { WorkerReply, WorkerRequest } from './worker.js';

/**
 * The compiled worker script, or undefined when running from TypeScript sources (tests), where
 * Node cannot start it; benchmarks then run in this process.
 */
export function workerScript(): string | undefined {
  const path = fileURLToPath(new URL('./worker.js', import.meta.url));
  return existsSync(path) ? path : undefined;
}

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };

/** A model's session in its own Node process (worker.ts), driven over IPC. */
export class ChildRunner implements ModelRunner {
  private child: ChildProcess | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private exited: Promise<void> | undefined;

  constructor(
    private readonly options: RunnerOptions,
    private readonly script: string,
  ) {}

  async open(): Promise<OpenedRunner> {
    // Structured-clone serialization keeps typed arrays (feeds, samples) intact across IPC.
    const child = fork(this.script, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
    this.child = child;
    child.on('message', (reply: WorkerReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (reply.ok) p.resolve(reply.value);
      else p.reject(reply.error.user ? new UserError(reply.error.message, reply.error.exitCode) : new Error(reply.error.message));
    });
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        const why = new Error(`${this.options.model}: benchmark worker process ended (${signal ?? `exit code ${code}`})`);
        for (const p of this.pending.values()) p.reject(why);
        this.pending.clear();
        this.child = undefined;
        resolve();
      });
    });
    return (await this.call({ op: 'open', options: this.options })) as OpenedRunner;
  }

  async setFeeds(feeds: FeedData[]): Promise<void> {
    await this.call({ op: 'setFeeds', feeds });
  }

  async run(iterations: number): Promise<BlockResult> {
    return (await this.call({ op: 'run', iterations })) as BlockResult;
  }

  async placement(): Promise<Placement> {
    return (await this.call({ op: 'placement' })) as Placement;
  }

  async memory(): Promise<ProcessMemory> {
    return (await this.call({ op: 'memory' })) as ProcessMemory;
  }

  stop(): void {
    if (this.child?.connected) this.child.send({ op: 'stop' } satisfies WorkerRequest);
  }

  async close(): Promise<void> {
    const child = this.child;
    if (!child) return;
    try {
      if (child.connected) await this.call({ op: 'close' });
    } catch {
      // the worker may already be gone; closing must not fail
    }
    if (child.connected) child.disconnect();
    await this.exited;
  }

  private call(req: WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never): Promise<unknown> {
    const child = this.child;
    if (!child?.connected) return Promise.reject(new Error(`${this.options.model}: benchmark worker is not running`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      child.send({ ...req, id } as WorkerRequest);
    });
  }
}
