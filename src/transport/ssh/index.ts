/** The SSH transport: connectHost() opens an SshTransport; nothing else in vipush knows SSH. */
export { CONNECT_DEFAULTS, connectHost, type ConnectOptions } from './connect.js';
export { RunConnections, type TransportLogger } from './run-connections.js';
export { SshTransport } from './transport.js';
export type { ConnectTarget } from '../resolve.js';
