/**
 * Manifest seals (issue 20): agents may hold credentials that append to their site's repository, so a
 * compromised host can store a manifest of its own — one dated far in the future, say, that retention's
 * keep-last would keep in place of a real snapshot. The controller therefore seals every manifest it writes
 * with a key only it holds, and a catalog rebuilt from the repository takes only manifests it sealed.
 */
import type { Manifest } from '../../../shared/manifest.js';

/** Signs and checks manifest bytes with the controller's key. */
export interface ManifestSealer {
  sign(bytes: Buffer): string;
  verify(bytes: Buffer, seal: string): boolean;
}

/** How far ahead of the controller's clock a manifest may be dated (clock skew between controllers). */
export const FUTURE_SKEW_MS = 5 * 60_000;

/** Why a stored manifest is not taken into the catalog, or undefined when it is. */
export function manifestProblem(
  m: { bytes: Buffer; seal: string | undefined; manifest: Manifest | undefined; decodeError?: string },
  o: { sealer: ManifestSealer; site: string; now: Date; acceptUnsealed: boolean },
): string | undefined {
  if (m.seal === undefined && !o.acceptUnsealed) return "not sealed by the controller (agents' credentials may append to this repository: an unsealed manifest may be forged)";
  if (m.seal !== undefined && !o.sealer.verify(m.bytes, m.seal)) return "its seal does not match: not written by a controller holding this fleet's seal key";
  if (!m.manifest) return `not a manifest: ${m.decodeError ?? 'unreadable'}`;
  if (m.manifest.site !== o.site) return `a manifest of site '${m.manifest.site}', not '${o.site}'`;
  if (m.manifest.createdAt.getTime() > o.now.getTime() + FUTURE_SKEW_MS) return `dated ${m.manifest.createdAt.toISOString()}, in the future`;
  return undefined;
}
