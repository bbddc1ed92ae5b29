import { describe, expect, it } from 'vitest';
import { parsePgbouncerIni, pgbouncerEntryFor } from './pgbouncer-ini.js';

const INI = [
  ';; pgbouncer of a FindFace host',
  '[databases]',
  "ffsecurity = host=10.0.0.7 port=5433 dbname=ffsecurity user=ntech password='a b'",
  'legacy = dbname=ffsecurity_old',
  '* = host=127.0.0.1',
  '',
  '[pgbouncer]',
  'listen_addr = 127.0.0.1, 10.0.0.5',
  'listen_port = 5439',
  '# admins',
  'admin_users = pgbadmin, postgres',
  'pool_mode = transaction',
].join('\n');

describe('pgbouncer.ini', () => {
  it('reads the databases, where it listens and its admin users; passwords are not kept', () => {
    const ini = parsePgbouncerIni(INI, '/etc/pgbouncer/pgbouncer.ini');
    expect(ini).toEqual({
      databases: { ffsecurity: { host: '10.0.0.7', port: 5433, dbname: 'ffsecurity', user: 'ntech' }, legacy: { dbname: 'ffsecurity_old' }, '*': { host: '127.0.0.1' } },
      listenAddr: '127.0.0.1, 10.0.0.5',
      listenPort: 5439,
      adminUsers: ['pgbadmin', 'postgres'],
    });
    expect(pgbouncerEntryFor(ini, 'ffsecurity_old')).toEqual({ alias: 'legacy', entry: { dbname: 'ffsecurity_old' } });
    expect(pgbouncerEntryFor(ini, 'other')).toBeUndefined();
  });

  it("takes pgbouncer's default port, and names the file and field of a bad line or port", () => {
    expect(parsePgbouncerIni('[pgbouncer]\nlisten_addr = *\n', 'f').listenPort).toBe(6432);
    expect(() => parsePgbouncerIni('listen_port = 1\n', 'f.ini')).toThrow(expect.objectContaining({ name: 'ValidationError', field: 'line 1', message: "f.ini: line 1: expected 'key = value' inside a [section]" }));
    expect(() => parsePgbouncerIni('[pgbouncer]\nlisten_port = 99999\n', 'f.ini')).toThrow("f.ini: pgbouncer.listen_port: '99999' is not a port");
  });
});
