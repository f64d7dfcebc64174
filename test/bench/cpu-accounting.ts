import { readFileSync } from 'node:fs';
import type { Lab } from '../lab/lab.js';
import { sshdListeners } from './host-trace.js';

/**
 * CPU the lab's hosts spent, and CPU the whole machine spent, during a run.
 *
 * Host side: a host's sshd listener reaps its per-connection sshd, which
 * reaps the session's shell and so on, so the listener's cutime + cstime
 * grows by exactly the CPU of every finished session on that host. Summed
 * over all hosts that is what the run cost the fleet.
 *
 * Machine: busy time from /proc/stat. Machine − controller − hosts is what
 * other processes (anything else on this machine) took while we measured.
 */
export interface CpuSnapshot {
  hostTicks: number;
  machineBusyTicks: number;
}

const TICKS_PER_SECOND = 100;

function childTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields 16 and 17 of stat(5) (cutime, cstime) are f[13], f[14] after the command name
    return Number(f[13]) + Number(f[14]);
  } catch {
    return 0;
  }
}

function machineBusy(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = cpu;
  return user + nice + system + irq + softirq + steal;
}

export class FleetCpu {
  private constructor(private readonly listeners: number[]) {}

  static async of(lab: Lab): Promise<FleetCpu> {
    return new FleetCpu(sshdListeners(lab.hosts));
  }

  snapshot(): CpuSnapshot {
    return { hostTicks: this.listeners.reduce((s, p) => s + childTicks(p), 0), machineBusyTicks: machineBusy() };
  }

  /** ms of CPU between two snapshots */
  static delta(a: CpuSnapshot, b: CpuSnapshot): { hostsCpuMs: number; machineBusyMs: number } {
    return {
      hostsCpuMs: ((b.hostTicks - a.hostTicks) * 1000) / TICKS_PER_SECOND,
      machineBusyMs: ((b.machineBusyTicks - a.machineBusyTicks) * 1000) / TICKS_PER_SECOND,
    };
  }
}
