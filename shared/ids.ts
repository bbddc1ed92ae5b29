/**
 * Identifier rules for sites and hosts. They become NATS key tokens and restic tags, so they are kept
 * to a safe alphabet: letters, digits, '-' and '_', starting with a letter or digit, at most 63 chars.
 */
import { ValidationError } from './errors.js';

export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

export function isValidId(value: string): boolean {
  return ID_PATTERN.test(value);
}

/** Returns `site`, or throws a ValidationError naming it when it is not a valid site id. */
export function checkSiteId(site: string): string {
  if (!isValidId(site)) throw new ValidationError(`site '${site}' is not a valid site id`, { field: 'site' });
  return site;
}
