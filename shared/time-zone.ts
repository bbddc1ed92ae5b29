/** IANA time zones as people give them (schedules, retention). */
import { ValidationError } from './errors.js';

/** Returns `timezone`, or throws a ValidationError naming it when the runtime does not know it. */
export function checkTimeZone(timezone: string): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    throw new ValidationError(`unknown time zone '${timezone}' (use an IANA name such as UTC or Europe/Moscow)`, { field: 'timezone' });
  }
  return timezone;
}
