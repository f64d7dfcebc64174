import { JumpPool } from './jump.js';

export interface TransportLogger {
  debug(message: string): void;
  warn(message: string): void;
}

/**
 * What the connections of one run share: the jump host connections (one
 * per jump host, however many targets sit behind it) and the known_hosts
 * lines already warned about (a run over many hosts warns once per line).
 */
export class RunConnections {
  readonly jumps = new JumpPool();
  private readonly warned = new Set<string>();

  warnOnce(logger: TransportLogger, message: string): void {
    if (this.warned.has(message)) return;
    this.warned.add(message);
    logger.warn(message);
  }
}
