/** The iproto client against a real Tarantool: auth, eval/call, pipelining, timeouts, errors, close. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TimeoutError, UnavailableError } from '../../shared/errors.js';
import { freePort } from '../../shared/net.js';
import { TarantoolClient, TarantoolError } from '../../shared/tarantool/iproto.js';
import { startTarantool, type TestTarantool } from '../harness/tarantool.js';

const LUA = `
box.schema.user.create('ffk', {password = 's3cret', if_not_exists = true})
box.schema.user.grant('ffk', 'super', nil, nil, {if_not_exists = true})
function echo(...) return ... end
function add(a, b) return a + b end
function fail(msg) error(msg, 0) end
`;

/**
 * The harness returns once the port listens, which can be before box.cfg's bootstrap and the extra Lua
 * have finished ("Instance bootstrap hasn't finished yet"): wait until the test user exists.
 */
async function connectWhenReady(port: number, auth: { user?: string; password?: string } = {}): Promise<TarantoolClient> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const c = await TarantoolClient.connect({ port, ...auth });
      await c.eval('return 1');
      return c;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

describe('TarantoolClient (iproto)', () => {
  let tnt: TestTarantool;
  let client: TarantoolClient;

  beforeAll(async () => {
    tnt = await startTarantool({ extraLua: LUA });
    client = await connectWhenReady(tnt.port, { user: 'ffk', password: 's3cret' });
  });

  afterAll(async () => {
    client?.close();
    await tnt?.stop();
  });

  it('reads the greeting and authenticates with chap-sha1', async () => {
    expect(client.serverVersion).toMatch(/^Tarantool 2\.\d+\.\d+.*\(Binary\)/);
    expect(await client.eval('return box.session.user()')).toEqual(['ffk']);
  });

  it('evaluates Lua with arguments and calls functions, returning every value', async () => {
    expect(await client.eval('local a, b = ... return a * 2, b .. "!"', [21, 'hi'])).toEqual([42, 'hi!']);
    expect(await client.call('add', [2, 3])).toEqual([5]);
    expect(await client.call('echo', [{ k: 'v', n: [1, 2] }, null, true])).toEqual([{ k: 'v', n: [1, 2] }, null, true]);
    const vclock = (await client.eval('return box.info.vclock'))[0] as Record<string, number>;
    expect(Number(vclock['1'])).toBeGreaterThan(0);
  });

  it('pipelines thousands of concurrent requests over one socket, each answered with its own result', async () => {
    const before = (await client.eval('return box.stat.net().CONNECTIONS.current'))[0];
    const n = 5000;
    const results = await Promise.all(Array.from({ length: n }, (_, i) => client.call('add', [i, 1000])));
    expect(results.map((r) => r[0])).toEqual(Array.from({ length: n }, (_, i) => i + 1000));
    expect((await client.eval('return box.stat.net().CONNECTIONS.current'))[0]).toBe(before);
  });

  it('carries large requests and responses across socket chunks', async () => {
    const big = 'x'.repeat(3 * 1024 * 1024);
    expect(await client.eval('local s = ... return #s, string.rep("y", 2 * 1024 * 1024)', [big])).toEqual([big.length, 'y'.repeat(2 * 1024 * 1024)]);
  });

  it('sends binary as msgpack bin and can read raw string fields as bytes', async () => {
    const raw = await TarantoolClient.connect({ port: tnt.port, rawStrings: true });
    try {
      const bytes = new Uint8Array([0, 255, 1, 254, 128]);
      const [back] = await raw.call('echo', [bytes]);
      expect(Buffer.from(back as Uint8Array)).toEqual(Buffer.from(bytes));
    } finally {
      raw.close();
    }
  });

  it('decodes 64-bit integers as bigint when asked', async () => {
    const big = await TarantoolClient.connect({ port: tnt.port, useBigInt64: true });
    try {
      expect(await big.eval('return 18446744073709551615ULL')).toEqual([18446744073709551615n]);
      expect(await big.call('echo', [2n ** 60n + 1n])).toEqual([2n ** 60n + 1n]);
    } finally {
      big.close();
    }
  });

  it("turns a server error into a TarantoolError carrying Tarantool's message and code", async () => {
    const err = await client.call('fail', ['gallery exploded']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TarantoolError);
    expect((err as TarantoolError).serverMessage).toBe('gallery exploded');
    expect((err as TarantoolError).errcode).toBe(32); // ER_PROC_LUA
    expect((err as TarantoolError).message).toBe(`tarantool 127.0.0.1:${tnt.port}: gallery exploded`);
    const missing = await client.call('no_such_function').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(TarantoolError);
    expect((missing as TarantoolError).serverMessage).toMatch(/Procedure 'no_such_function' is not defined/);
  });

  it('rejects a wrong password with the server message', async () => {
    const err = await TarantoolClient.connect({ port: tnt.port, user: 'ffk', password: 'wrong' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TarantoolError);
    expect((err as TarantoolError).serverMessage).toMatch(/Incorrect password supplied for user 'ffk'/);
  });

  it('times a slow request out without breaking the connection', async () => {
    const err = await client.eval('require("fiber").sleep(1)', [], { timeoutMs: 100 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as TimeoutError).message).toMatch(/eval require\("fiber"\)\.sleep\(1\) timed out after 100 ms/);
    expect(await client.call('add', [1, 1])).toEqual([2]);
  });

  it('fails to connect to a closed port with UnavailableError', async () => {
    const port = await freePort();
    const err = await TarantoolClient.connect({ port, timeoutMs: 2000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toContain(`tarantool 127.0.0.1:${port}: cannot connect`);
  });

  it('fails in-flight and later requests with UnavailableError once closed', async () => {
    const c = await TarantoolClient.connect({ port: tnt.port });
    const inFlight = c.eval('require("fiber").sleep(0.5) return 1');
    c.close();
    await expect(inFlight).rejects.toBeInstanceOf(UnavailableError);
    await expect(c.ping()).rejects.toBeInstanceOf(UnavailableError);
    expect(c.connected).toBe(false);
  });

  it('fails pending requests with UnavailableError when the server goes away', async () => {
    const own = await startTarantool();
    const c = await connectWhenReady(own.port);
    const [pid] = await c.eval('return box.info.pid');
    const pending = c.eval('require("fiber").sleep(10)').catch((e: unknown) => e);
    process.kill(Number(pid), 'SIGKILL'); // gone without a goodbye
    await own.stop();
    const err = await pending;
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toMatch(/^tarantool 127\.0\.0\.1:\d+: .*\(during eval require\("fiber"\)\.sleep\(10\)\)$/);
    c.close();
  });
});
