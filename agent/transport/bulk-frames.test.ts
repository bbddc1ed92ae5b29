import { describe, expect, it } from 'vitest';
import { BULK_ERROR, BULK_MISSING, BULK_OK, BULK_TOO_LARGE, encodeRequest, replyHeader, ReplyReader, RequestReader, textReply, type BulkRequest } from './bulk-frames.js';

/** `bytes` cut into pieces of `size` (a socket delivers frames cut anywhere). */
function pieces(bytes: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

describe('direct channel frames', () => {
  const requests: BulkRequest[] = Array.from({ length: 50 }, (_, i) => ({ id: i + 1, list: 1, dossierId: 100 + i, root: i % 2 ? 'uploads' : 'ffupload', rel: `dossier_faces/${i}/é.jpg` }));
  const file = Buffer.alloc(70_001, 7);
  const replies = Buffer.concat([replyHeader(1, BULK_OK, file.length), file, textReply(2, BULK_MISSING), textReply(3, BULK_ERROR, 'EACCES'), replyHeader(4, BULK_OK, 0)]);

  it.each([1, 3, 4096, 1 << 20])('requests and replies survive being cut every %i bytes', (size) => {
    const reader = new RequestReader();
    expect(pieces(Buffer.concat(requests.map(encodeRequest)), size).flatMap((p) => reader.push(p))).toEqual(requests);
    const replyReader = new ReplyReader();
    const got = pieces(replies, size).flatMap((p) => replyReader.push(p));
    expect(got.map((r) => [r.id, r.status, r.payload.length])).toEqual([[1, BULK_OK, file.length], [2, BULK_MISSING, 0], [3, BULK_ERROR, 6], [4, BULK_OK, 0]]);
    expect(got[0]?.payload.equals(file)).toBe(true);
    expect(got[2]?.payload.toString()).toBe('EACCES');
  });

  it.each([
    ['an oversized frame', Buffer.from([0, 1, 0, 1])],
    ['an empty frame', Buffer.from([0, 0, 0, 0])],
    ['not JSON', Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from('abc')])],
    ['JSON that is no request', (() => { const j = Buffer.from('{"id":1,"root":"etc","rel":"x","list":1,"dossierId":1}'); const h = Buffer.alloc(4); h.writeUInt32BE(j.length); return Buffer.concat([h, j]); })()],
  ])('%s is refused', (_what, bytes) => {
    expect(() => new RequestReader().push(bytes)).toThrow(/frame/);
  });

  it('a reply says "too large"; a status no version knows is refused', () => {
    expect(new ReplyReader().push(textReply(5, BULK_TOO_LARGE, 'big')).map((r) => [r.id, r.status, r.payload.toString()])).toEqual([[5, BULK_TOO_LARGE, 'big']]);
    expect(() => new ReplyReader().push(textReply(5, (BULK_TOO_LARGE + 1) as typeof BULK_TOO_LARGE, 'x'))).toThrow(/unknown status 5/);
  });
});
