import { HostError } from '../../errors.js';
import { fingerprintSha256, keyTypeOfBlob, type KnownHostsVerifier } from '../known-hosts.js';
import { shQuote } from '../../remote/quote.js';
import type { Endpoint } from '../resolve.js';
import { describeEndpoint } from './failures.js';

export interface HostKeyPolicy {
  verifier: KnownHostsVerifier;
  /** trust and record the key of a host known_hosts has never seen */
  acceptNewHostKeys: boolean;
  /** the known_hosts file named in the advice to add a key */
  knownHostsHint: string;
}

const WONT_TOUCH = ' vipush will not touch this host.';

/** The verdict on the host key a server sent: accept it, accept and record it, or refuse with the reason. */
export function hostKeyRefusal(host: string, endpoint: Endpoint, policy: HostKeyPolicy, blob: Buffer, knownName: string): HostError | 'accept' | 'accept-new' {
  const where = describeEndpoint(endpoint);
  const got = fingerprintSha256(blob);
  let verdict: ReturnType<typeof policy.verifier.check>;
  let keyType: string;
  try {
    keyType = keyTypeOfBlob(blob);
    verdict = policy.verifier.check(knownName, blob);
  } catch (e) {
    return new HostError(host, 'hostkey', `${where} sent a host key vipush cannot read (${(e as Error).message}).${WONT_TOUCH}`);
  }
  switch (verdict.status) {
    case 'known':
      return 'accept';
    case 'revoked':
      return new HostError(host, 'hostkey', `host key ${got} of ${where} is marked @revoked in ${verdict.entry.file}:${verdict.entry.line}.${WONT_TOUCH}`);
    case 'changed':
      return new HostError(
        host,
        'hostkey',
        `REMOTE HOST IDENTIFICATION HAS CHANGED for ${where}: got ${got}, ` +
          `known_hosts has ${fingerprintSha256(verdict.entry.key)} (${verdict.entry.file}:${verdict.entry.line}).${WONT_TOUCH}`,
      );
    case 'unknown': {
      const knownTypes = policy.verifier.knownKeyTypes(knownName);
      if (knownTypes.length > 0) {
        const held = knownTypes.join(', ');
        return new HostError(host, 'hostkey', `${where} sent a ${keyType} host key (${got}) but known_hosts holds only ${held} keys for it.${WONT_TOUCH}`);
      }
      if (policy.acceptNewHostKeys) return 'accept-new';
      return new HostError(
        host,
        'hostkey',
        `unknown host key for ${where}: ${keyType} ${got}. vipush trusts only keys in known_hosts. ` +
          `If that is the right key, add it with \`ssh-keyscan -p ${endpoint.port} ${shQuote(endpoint.address)} >> ${policy.knownHostsHint}\` ` +
          `(compare the fingerprint first), or run with --accept-new-host-keys.`,
      );
    }
  }
}
