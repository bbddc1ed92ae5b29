/**
 * Who is on the other end of a gRPC connection, as its certificate says (DESIGN.md §12): the fleet CA
 * puts one URI in each certificate's subjectAltName — `ffkeeper://agent/<site>/<host>`,
 * `ffkeeper://controller/<id>` or `ffkeeper://operator/<name>` — and every check of a peer reads it from
 * there, never from what the peer says about itself.
 */
import { ValidationError } from '../errors.js';
import { isValidId } from '../ids.js';

export type PeerIdentity =
  | { kind: 'agent'; site: string; host: string }
  | { kind: 'controller'; id: string }
  | { kind: 'operator'; name: string };

const SCHEME = 'ffkeeper://';
/** Operator names: letters, digits, `.`, `_`, `-`, `@` (an e-mail address works), 1-128 characters. */
const OPERATOR_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;

export function isValidOperatorName(name: string): boolean {
  return OPERATOR_NAME.test(name);
}

/** The name, or a ValidationError naming it and the allowed form. */
export function checkOperatorName(name: string): string {
  if (!OPERATOR_NAME.test(name)) throw new ValidationError(`'${name}' is not an operator name (letters, digits, '.', '_', '-', '@')`, { field: 'name' });
  return name;
}

export function identityUri(id: PeerIdentity): string {
  switch (id.kind) {
    case 'agent':
      return `${SCHEME}agent/${id.site}/${id.host}`;
    case 'controller':
      return `${SCHEME}controller/${id.id}`;
    case 'operator':
      return `${SCHEME}operator/${id.name}`;
  }
}

export function parseIdentityUri(uri: string): PeerIdentity | undefined {
  if (!uri.startsWith(SCHEME)) return undefined;
  const parts = uri.slice(SCHEME.length).split('/');
  if (parts[0] === 'agent' && parts.length === 3 && isValidId(parts[1] as string) && isValidId(parts[2] as string)) {
    return { kind: 'agent', site: parts[1] as string, host: parts[2] as string };
  }
  if (parts[0] === 'controller' && parts.length === 2 && isValidId(parts[1] as string)) return { kind: 'controller', id: parts[1] as string };
  if (parts[0] === 'operator' && parts.length === 2 && isValidOperatorName(parts[1] as string)) return { kind: 'operator', name: parts[1] as string };
  return undefined;
}

/** The identity in a certificate's subjectAltName as Node renders it (`URI:ffkeeper://…, IP Address:…`). */
export function identityOfSubjectAltName(san: string | undefined): PeerIdentity | undefined {
  for (const entry of (san ?? '').split(/,\s*/)) {
    if (entry.startsWith('URI:')) {
      const id = parseIdentityUri(entry.slice(4));
      if (id) return id;
    }
  }
  return undefined;
}

export function formatIdentity(id: PeerIdentity): string {
  switch (id.kind) {
    case 'agent':
      return `agent ${id.site}/${id.host}`;
    case 'controller':
      return `controller ${id.id}`;
    case 'operator':
      return `operator ${id.name}`;
  }
}

export function sameIdentity(a: PeerIdentity, b: PeerIdentity): boolean {
  return identityUri(a) === identityUri(b);
}
