import type { Command } from 'commander';

// Placeholder: this command is being built (see the issue tracker); it registers nothing yet.
export function register(_program: Command): void {}
