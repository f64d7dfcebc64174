/** The SSH transport: connectHost() opens an SshTransport; nothing else in vipush knows SSH. */
export { CONNECT_DEFAULTS, connectHost, RunConnections, type ConnectOptions, type TransportLogger } from './connect.js';
export { SshTransport } from './transport.js';
export type { ConnectTarget } from '../resolve.js';
