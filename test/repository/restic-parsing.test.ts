/**
 * Unit tests of the restic adapter's pure parts: the JSON line splitter and decoder, repository URL
 * validation and masking, and the mapping of restic 0.14's error text to typed errors (texts captured
 * from restic 0.14.0, including backends we cannot start here: sftp, s3).
 */
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../shared/errors.js';
import {
  BackupSourceMissingError,
  RepositoryAccessDeniedError,
  RepositoryAlreadyInitialisedError,
  RepositoryCommandError,
  RepositoryDataDamagedError,
  RepositoryLockedError,
  RepositoryNotInitialisedError,
  RepositoryUnavailableError,
  RepositoryWrongPasswordError,
  SnapshotNotFoundError,
  SnapshotPathNotFoundError,
} from '../../shared/repository/errors.js';
import { classifyFailure, redact } from '../../shared/repository/restic-errors.js';
import { LineSplitter, describeResticError, parseBackupLine } from '../../shared/repository/restic-json.js';
import { checkTags, escapePattern, stripAnsi } from '../../shared/repository/restic-validate.js';
import { maskUrlCredentials, parseRepositoryUrl } from '../../shared/repository/url.js';

describe('LineSplitter', () => {
  it('joins lines split across chunks, including a UTF-8 character split in two', () => {
    const splitter = new LineSplitter();
    const snow = Buffer.from('☃'); // 3 bytes
    expect(splitter.push(Buffer.from('{"a":'))).toEqual([]);
    expect(splitter.push(Buffer.concat([Buffer.from('1}\r\nx'), snow.subarray(0, 1)]))).toEqual(['{"a":1}']);
    expect(splitter.push(Buffer.concat([snow.subarray(1), Buffer.from('y\n\nlast')])))
      .toEqual(['x☃y', '']);
    expect(splitter.flush()).toEqual(['last']);
    expect(splitter.flush()).toEqual([]);
  });
});

describe('parseBackupLine', () => {
  it.each([
    [
      '{"message_type":"status","seconds_elapsed":3,"seconds_remaining":7,"percent_done":0.3,"total_files":10,"files_done":3,"total_bytes":1000,"bytes_done":300,"current_files":["/a","/b"]}',
      { type: 'progress', event: { kind: 'progress', bytesDone: 300, bytesTotal: 1000, filesDone: 3, filesTotal: 10, etaSeconds: 7, currentFiles: ['/a', '/b'] } },
    ],
    // restic's remaining time while nothing is done yet (a --stdin backup before its data): no estimate.
    [
      '{"message_type":"status","seconds_elapsed":1,"seconds_remaining":9223372036854,"percent_done":0,"total_files":1,"files_done":0}',
      { type: 'progress', event: { kind: 'progress', bytesDone: 0, bytesTotal: 0, filesDone: 0, filesTotal: 1 } },
    ],
    [
      '{"message_type":"status","percent_done":0,"total_files":1,"total_bytes":3000000}',
      { type: 'progress', event: { kind: 'progress', bytesDone: 0, bytesTotal: 3000000, filesDone: 0, filesTotal: 1 } },
    ],
    [
      '{"message_type":"error","error":{"Op":"open","Path":"/u/x.jpg","Err":13},"during":"archival","item":"/u/x.jpg"}',
      { type: 'error', event: { kind: 'error', path: '/u/x.jpg', message: 'open /u/x.jpg: EACCES (errno 13) (during archival)' } },
    ],
    [
      '{"message_type":"error","error":{"Op":"read","Path":"/s.sql","Err":{}},"during":"archival","item":"/s.sql"}',
      { type: 'error', event: { kind: 'error', path: '/s.sql', message: 'read /s.sql: failed (during archival)' } },
    ],
    ['not json at all', { type: 'text', line: 'not json at all' }],
    ['{"truncated": ', { type: 'text', line: '{"truncated": ' }],
    ['[1,2]', { type: 'text', line: '[1,2]' }],
    ['{"message_type":"verbose_status","action":"new","item":"/a"}', { type: 'text', line: '{"message_type":"verbose_status","action":"new","item":"/a"}' }],
  ])('decodes %s', (line, expected) => {
    expect(parseBackupLine(line)).toEqual(expected);
  });

  it('decodes a summary', () => {
    const line =
      '{"message_type":"summary","files_new":2,"files_changed":1,"files_unmodified":4,"dirs_new":1,"dirs_changed":0,"dirs_unmodified":2,"data_blobs":3,"tree_blobs":2,"data_added":3001118,"total_files_processed":7,"total_bytes_processed":3000003,"total_duration":0.2289,"snapshot_id":"f665bcfb"}';
    expect(parseBackupLine(line)).toEqual({
      type: 'summary',
      summary: {
        shortSnapshotId: 'f665bcfb', filesNew: 2, filesChanged: 1, filesUnmodified: 4, dirsNew: 1, dirsChanged: 0,
        dirsUnmodified: 2, dataAddedBytes: 3001118, totalFilesProcessed: 7, totalBytesProcessed: 3000003, durationSeconds: 0.2289,
      },
    });
  });

  it('describes the shapes Go errors take in restic 0.14 JSON', () => {
    expect(describeResticError('plain text')).toBe('plain text');
    expect(describeResticError({ message: 'with message' })).toBe('with message');
    expect(describeResticError(null)).toBe('unknown error');
    expect(describeResticError({ Op: 'lstat', Path: '/x', Err: 2 })).toBe('lstat /x: ENOENT (errno 2)');
  });
});

describe('parseRepositoryUrl', () => {
  it.each([
    ['/srv/restic/site-a', 'local', '/srv/restic/site-a'],
    ['local:/srv/restic', 'local', 'local:/srv/restic'],
    ['sftp:backup@host:/srv/restic', 'sftp', 'sftp:backup@host:/srv/restic'],
    ['sftp://backup@host:2222//srv/restic', 'sftp', 'sftp://backup@host:2222//srv/restic'],
    ['s3:https://s3.example.com/bucket/site-a', 's3', 's3:https://s3.example.com/bucket/site-a'],
    ['s3:s3.amazonaws.com/bucket', 's3', 's3:s3.amazonaws.com/bucket'],
    ['rest:https://u:p%40ss@rest.example.com:8000/site-a/', 'rest', 'rest:https://u:***@rest.example.com:8000/site-a/'],
    ['rclone:remote:backups/site-a', 'rclone', 'rclone:remote:backups/site-a'],
  ])('accepts %s', (url, scheme, display) => {
    const parsed = parseRepositoryUrl(url);
    expect(parsed).toMatchObject({ scheme, raw: url, display });
  });

  it('collects URL passwords, raw and decoded, as secrets', () => {
    expect(parseRepositoryUrl('rest:https://u:p%40ss@h/r').secrets).toEqual(['p%40ss', 'p@ss']);
  });

  it.each([
    ['', 'empty or surrounded by whitespace'],
    ['relative/path', 'not an absolute local path'],
    ['ftp:host/x', 'not an absolute local path and no known backend prefix'],
    ['rest:ftp://x', 'rest: needs an http(s) URL'],
    ['sftp:hostonly', 'sftp: needs a host and a path'],
    ['s3:', "nothing after 's3:'"],
    ['rclone:noremote', 'rclone: needs a remote'],
    ['/srv/x\nrm', 'contains a control character'],
  ])('rejects %j', (url, why) => {
    expect(() => parseRepositoryUrl(url)).toThrow(ValidationError);
    expect(() => parseRepositoryUrl(url)).toThrow(why);
  });

  it('masks the password of every user:password@ in a text', () => {
    expect(maskUrlCredentials('a rest:http://u:pw@h/ b s3:https://k:s@x/b')).toBe('a rest:http://u:***@h/ b s3:https://k:***@x/b');
  });
});

describe('classifyFailure (restic 0.14 texts)', () => {
  const base = { url: 'rest:http://u:***@h:1/r', rawUrl: 'rest:http://u:pw@h:1/r', operation: 'backup', secrets: ['hunter2', 'pw'], exitCode: 1 };

  it.each([
    [
      'unable to create lock in backend: repository is already locked exclusively by PID 812 on db-1 by root (UID 0, GID 0)\nlock was created at 2026-11-21 17:04:22 (1.4s ago)\nstorage ID 20f80367\n',
      RepositoryLockedError,
      'repository rest:http://u:***@h:1/r is locked by PID 812 on db-1 by root (UID 0, GID 0), created at 2026-11-21 17:04:22 (1.4s ago); backup not started',
    ],
    ['Fatal: wrong password or no key found\n', RepositoryWrongPasswordError, 'wrong password for repository rest:http://u:***@h:1/r'],
    ['Fatal: create repository at /x failed: config file already exists\n', RepositoryAlreadyInitialisedError, 'a repository is already initialised at'],
    [
      'Fatal: unable to open config file: client.Head: Head "http://u:pw@h:1/r/config": dial tcp 10.0.0.1:1: connect: connection refused\nIs there a repository at the following location?\nrest:http://u:pw@h:1/r\n',
      RepositoryUnavailableError,
      'is unreachable: unable to open config file: client.Head: Head "http://u:***@h:1/r/config": dial tcp 10.0.0.1:1: connect: connection refused',
    ],
    [
      'Fatal: unable to open config file: unexpected HTTP response (401): 401 Unauthorized\nIs there a repository at the following location?\nrest:http://u:pw@h:1/r\n',
      RepositoryAccessDeniedError,
      'backup on repository rest:http://u:***@h:1/r was refused by the storage: unable to open config file: unexpected HTTP response (401): 401 Unauthorized',
    ],
    [
      'Save(<data/5f8a1c2b3d>) returned error, retrying after 552ms: server response unexpected: 403 Forbidden (403)\nFatal: unable to save snapshot: server response unexpected: 403 Forbidden (403)\n',
      RepositoryAccessDeniedError,
      'was refused by the storage: unable to save snapshot: server response unexpected: 403 Forbidden (403)',
    ],
    [
      'Save(<lock/5f8a1c2b3d>) returned error, retrying after 552ms: OpenFile: permission denied\nunable to create lock in backend: OpenFile: permission denied\n',
      RepositoryAccessDeniedError,
      'backup on repository rest:http://u:***@h:1/r was refused by the storage: OpenFile: permission denied',
    ],
    ['Fatal: unable to open repository at sftp:b@nohost:/r: unable to start the sftp session, error: EOF\n', RepositoryUnavailableError, 'is unreachable'],
    ['Fatal: unable to open config file: Stat: The specified key does not exist.\nIs there a repository at the following location?\ns3:https://s3/b\n', RepositoryNotInitialisedError, 'no repository initialised at'],
    ['Fatal: unable to open config file: stat /r/config: no such file or directory\nIs there a repository at the following location?\n/r\n', RepositoryNotInitialisedError, 'no repository initialised at'],
    ['invalid id "deadbeef": no matching ID found for prefix "deadbeef"\n', SnapshotNotFoundError, "snapshot 'deadbeef' not found"],
    ['cannot dump file: path "/a b" not found in snapshot\n', SnapshotPathNotFoundError, "path '/a b' not found in snapshot"],
    ['/x does not exist, skipping\nFatal: all target directories/files do not exist\n', BackupSourceMissingError, 'nothing to back up into'],
    [
      'Load(<data/5f8a1c2b3d>, 0, 0) returned error, retrying after 552ms: ciphertext verification failed\nFatal: cannot dump file: ciphertext verification failed\n',
      RepositoryDataDamagedError,
      "backup on repository rest:http://u:***@h:1/r read damaged data (cannot dump file: ciphertext verification failed): the repository's data is damaged",
    ],
    ['Fatal: unable to save snapshot: hunter2 something odd\n', RepositoryCommandError, 'backup on repository rest:http://u:***@h:1/r failed (exit code 1): Fatal: unable to save snapshot: *** something odd'],
  ])('maps %j', (stderr, errorClass, message) => {
    const err = classifyFailure({ ...base, stderr });
    expect(err).toBeInstanceOf(errorClass);
    expect(err.message).toContain(message);
    expect(err.message).not.toContain('hunter2');
    expect(err.message).not.toContain(':pw@');
  });

  it('redacts longer secrets first and the raw URL wherever it appears', () => {
    expect(redact('pw and pwlong at rest:http://u:pw@h:1/r', base.rawUrl, base.url, ['pw', 'pwlong'])).toBe(
      '*** and *** at rest:http://u:***@h:1/r',
    );
  });
});

describe('escapePattern', () => {
  it('escapes glob characters so a literal path only matches itself', () => {
    expect(escapePattern('/a*b?[c]\\d')).toBe('/a\\*b\\?\\[c\\]\\\\d');
  });
});

describe('output and tag helpers', () => {
  it('strips terminal escape sequences from progress output', () => {
    expect(stripAnsi(`${String.fromCharCode(0x1b)}[2Ksignal interrupt received`)).toBe('signal interrupt received');
  });

  it.each(['', 'a,b', 'line\nbreak', `tab${String.fromCharCode(9)}`])('rejects the tag %j', (tag) => {
    expect(() => checkTags([tag])).toThrow(ValidationError);
    expect(() => checkTags([tag])).toThrow(`invalid tag '${tag}'`);
  });

  it('accepts ffkeeper tags', () => {
    expect(checkTags(['ffk-site=msk-1', 'ffk-component=tarantool:shard 1'])).toHaveLength(2);
  });
});
