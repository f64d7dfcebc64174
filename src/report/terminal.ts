import { Listr, type ListrTaskWrapper, type DefaultRenderer, type SimpleRenderer } from 'listr2';
import type { GateOutcome, HostResult, HostStatus, RunEvents } from '../engine/types.js';
import { escapeField as f, safeJson } from './escape.js';

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
}
function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

type Task = ListrTaskWrapper<unknown, typeof DefaultRenderer, typeof SimpleRenderer>;
type Counts = Record<HostStatus, number>;
const zero = (): Counts => ({ ok: 0, changed: 0, failed: 0, unreachable: 0, skipped: 0 });
const fmt = (c: Counts) => `ok=${c.ok} changed=${c.changed} failed=${c.failed} unreachable=${c.unreachable}`;

/**
 * Progress while the run goes: one listr2 line per play, its title carrying
 * live counts, and one output line per batch. Never a row per host: with a
 * few hundred hosts those rows would be the slowest part of the run.
 * The renderer is chosen in one place: listr2's default one on a TTY, the
 * simple line renderer otherwise, silent with --quiet. A title or an output is one line: every field in
 * it that a host or a file gave is escaped (f), which the simple renderer prints as it is.
 */
export class TerminalProgress implements RunEvents {
  private readonly plays: string[];
  private readonly done = new Map<string, Deferred>();
  private readonly tasks = new Map<string, Task>();
  private readonly counts = new Map<string, Counts>();
  /** Updates for a play whose listr2 task has not started yet, applied in order when it starts. */
  private readonly pending = new Map<string, ((t: Task) => void)[]>();
  private current?: string;
  private listr?: Promise<unknown>;

  constructor(
    plays: string[],
    private readonly quiet: boolean,
  ) {
    this.plays = plays;
    for (const p of plays) {
      this.done.set(p, deferred());
      this.pending.set(p, []);
      this.counts.set(p, zero());
    }
  }

  start(): void {
    const tty = !!process.stdout.isTTY;
    const list = new Listr(
      this.plays.map((p) => ({
        title: f(p),
        task: async (_ctx: unknown, task: Task) => {
          this.tasks.set(p, task);
          for (const update of this.pending.get(p) ?? []) update(task);
          this.pending.set(p, []);
          await this.done.get(p)!.promise;
        },
      })),
      {
        concurrent: false,
        exitOnError: false,
        // vipush handles SIGINT itself: finish or roll back in-flight hosts, write the report, exit 130
        registerSignalListeners: false,
        renderer: this.quiet ? 'silent' : tty ? 'default' : 'simple',
        fallbackRenderer: 'simple',
        rendererOptions: { collapseSubtasks: false, persistentOutput: true } as never,
      },
    );
    this.listr = list.run().catch(() => undefined);
  }

  /** Applies an update to the play's line now, or, before listr2 has started that play, as soon as it does: none is dropped. */
  private withTask(play: string, fn: (t: Task) => void): void {
    const t = this.tasks.get(play);
    if (t) fn(t);
    else this.pending.get(play)?.push(fn);
  }

  playStart(p: { name: string; hosts: string[] }): void {
    if (this.current && this.current !== p.name) this.done.get(this.current)?.resolve();
    this.current = p.name;
    this.withTask(p.name, (t) => (t.title = `${f(p.name)} (${p.hosts.length} hosts)`));
  }

  batchStart(b: { play: string; index: number; count: number; hosts: string[] }): void {
    if (b.count > 1) this.withTask(b.play, (t) => (t.output = `batch ${b.index + 1}/${b.count}: ${b.hosts.length} hosts`));
  }

  hostDone(r: HostResult): void {
    const play = this.current;
    if (!play) return;
    const c = this.counts.get(play)!;
    c[r.status]++;
    this.withTask(play, (t) => (t.title = `${f(play)}: ${fmt(c)}`));
  }

  batchDone(b: { play: string; index: number; failed: string[]; stopped: boolean; reason?: string }): void {
    if (b.stopped) this.withTask(b.play, (t) => (t.output = `stopped: ${f(b.reason ?? '')}`));
  }

  gate(g: GateOutcome): void {
    this.withTask(g.play, (t) => (t.output = `gate ${f(g.name)} after batch ${g.batch + 1}: ${g.ok ? 'passed' : 'FAILED'}: ${f(g.detail)}`));
  }

  async finish(): Promise<void> {
    // every play's task still runs (and takes its pending updates) before listr2 ends
    for (const d of this.done.values()) d.resolve();
    await this.listr;
  }
}

/** `--log-format json`: one event per line on stdout, for journald or log shipping; safeJson, so that no line holds a raw control. */
export class JsonLines implements RunEvents {
  private emit(event: string, data: object): void {
    process.stdout.write(safeJson({ time: new Date().toISOString(), event, ...data }) + '\n');
  }
  playStart(p: { name: string; hosts: string[] }) {
    this.emit('play_start', p);
  }
  batchStart(b: { play: string; index: number; count: number; hosts: string[] }) {
    this.emit('batch_start', b);
  }
  hostStart(host: string) {
    this.emit('host_start', { host });
  }
  hostDone(r: HostResult) {
    this.emit('host_done', { host: r.host, status: r.status, rolledBack: r.rolledBack, error: r.error, drift: r.drift, durationMs: r.durationMs });
  }
  batchDone(b: { play: string; index: number; failed: string[]; stopped: boolean; reason?: string }) {
    this.emit('batch_done', b);
  }
  gate(g: GateOutcome) {
    this.emit('gate', g);
  }
  message(text: string) {
    this.emit('message', { text });
  }
}

/** Fans one event stream out to several consumers. */
export function fanOut(...sinks: RunEvents[]): RunEvents {
  const call = <K extends keyof RunEvents>(k: K) =>
    ((...args: unknown[]) => {
      for (const s of sinks) (s[k] as ((...a: unknown[]) => void) | undefined)?.(...args);
    }) as NonNullable<RunEvents[K]>;
  return {
    playStart: call('playStart'),
    batchStart: call('batchStart'),
    hostStart: call('hostStart'),
    hostDone: call('hostDone'),
    batchDone: call('batchDone'),
    gate: call('gate'),
    message: call('message'),
  };
}
