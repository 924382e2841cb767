// Worker process for isolated benchmarks: holds one model's session (see child-runner.ts), so
// the memory it reports belongs to that model alone. Speaks a small request/response protocol
// over the IPC channel; timing happens here, the parent only orchestrates blocks.
import { isUserError } from '../errors.js';
import type { RunnerOptions } from './runner.js';
import { SessionRunner } from './session-runner.js';

export type WorkerRequest =
  | { id: number; op: 'open'; options: RunnerOptions }
  | { id: number; op: 'setFeeds'; feeds: Parameters<SessionRunner['setFeeds']>[0] }
  | { id: number; op: 'run'; iterations: number }
  | { id: number; op: 'placement' | 'memory' | 'close' }
  | { op: 'stop' };

export type WorkerReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: { message: string; user: boolean; exitCode?: number } };

let runner: SessionRunner | undefined;

async function handle(req: Exclude<WorkerRequest, { op: 'stop' }>): Promise<unknown> {
  if (req.op === 'open') {
    runner = new SessionRunner(req.options);
    return runner.open();
  }
  if (!runner) throw new Error(`worker got ${req.op} before open`);
  switch (req.op) {
    case 'setFeeds':
      return runner.setFeeds(req.feeds);
    case 'run':
      return runner.run(req.iterations);
    case 'placement':
      return runner.placement();
    case 'memory':
      return runner.memory();
    case 'close':
      await runner.close();
      runner = undefined;
      return undefined;
  }
}

// Ctrl-C reaches the whole process group; the parent decides when to stop and tells us.
process.on('SIGINT', () => {});
process.on('disconnect', () => {
  void (runner?.close() ?? Promise.resolve()).finally(() => process.exit(0));
});
process.on('message', (msg: WorkerRequest) => {
  if (msg.op === 'stop') {
    runner?.stop();
    return;
  }
  handle(msg).then(
    (value) => process.send!({ id: msg.id, ok: true, value } satisfies WorkerReply),
    (e: unknown) => {
      const err = e as Error & { exitCode?: number };
      const reply: WorkerReply = {
        id: msg.id,
        ok: false,
        error: { message: err?.message ?? String(e), user: isUserError(e), ...(isUserError(e) ? { exitCode: err.exitCode } : {}) },
      };
      process.send!(reply);
    },
  );
});
