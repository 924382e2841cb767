/**
 * An error caused by the user's input (a missing file, a bad flag, a model we cannot handle).
 * The CLI prints its message as one line and exits with `exitCode`, without a stack trace.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = 2,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

/** Exit codes shared by every command. */
export const ExitCode = {
  ok: 0,
  /** Unexpected internal failure (a bug). */
  internal: 1,
  /** Bad input: file, flag, data or model problem. */
  badInput: 2,
  /** `eval --min-accuracy` failed. */
  gateMinAccuracy: 3,
  /** `eval --max-drop` failed. */
  gateMaxDrop: 4,
  /** `quantize --max-drop` / `--min-sqnr`: the accuracy budget cannot be met even with nodes reverted to float. */
  accuracyBudget: 3,
  /** `quantize` found nothing to quantize (and --allow-empty was not given). */
  nothingQuantized: 6,
  /** Training diverged (NaN/Inf loss). */
  diverged: 5,
  /** Interrupted (Ctrl-C). */
  interrupted: 130,
} as const;

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}
