import { ExitCode } from '../errors.js';

/** The run SIGINT/SIGTERM should stop gracefully, if one is going. */
let runInFlight: AbortController | undefined;

/** Makes a run the one a signal stops: its abort signal, and `end()` for when it is over. */
export function interruptibleRun(): { signal: AbortSignal; end(): void } {
  const controller = new AbortController();
  runInFlight = controller;
  return {
    signal: controller.signal,
    end: () => {
      if (runInFlight === controller) runInFlight = undefined;
    },
  };
}

/**
 * First signal: no new hosts start, hosts in flight finish or roll back, the
 * report is written, exit 130. Second signal (or one before any host was
 * touched): exit at once; on-host dead-man switches revert what they guard.
 */
export function installSignalHandlers(): void {
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupts++;
    if (!runInFlight || interrupts > 1) {
      if (runInFlight) process.stderr.write(`\nvipush: ${sig} again; exiting now. Hosts in flight keep what their dead-man switch decides.\n`);
      process.exit(ExitCode.interrupted);
    }
    process.stderr.write(`\nvipush: ${sig}: no new hosts will start; hosts in flight finish or roll back. Press Ctrl-C again to exit at once.\n`);
    runInFlight.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
