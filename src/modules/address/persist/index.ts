/**
 * Persistent loopback VIPs, by network stack: detect the stack from facts,
 * render the files that bring the VIP back after a reboot. Pure: the address
 * module and the engine read and write the files.
 */
export type { PersistFile, PersistPlan, PersistedVip, ServiceState, StackBackend, StackDetection, StackFacts } from './types.js';
export { emptyStackFacts, STACK_BACKENDS } from './types.js';
export {
  PERSIST_FILE_GLOBS,
  PERSIST_PROBE,
  PERSIST_READ_GLOBS,
  parsePersistProbe,
  persistProbeScript,
  PROBE_READ_GLOBS,
  probeLinesFromFiles,
} from './probe.js';
export { chooseBackend, detectStack } from './detect.js';
export { keepsScopeHost, scopeHostRefusal, scopeLostReason } from './scope.js';
export { PERSIST_FORMATS, persistPathsToRead, renderPersist, renderPersistAll, withPlanApplied } from './render.js';
export { HEADER as PERSIST_HEADER } from './managed.js';
export { NM_DUMMY_DEVICE } from './networkmanager.js';
