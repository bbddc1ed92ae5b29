// Test runs only. Re-encrypts the key of a local restic repository that `restic init` just created with
// cheap scrypt parameters (N=1024, r=8, p=1), so that every later restic process of the test run opens it
// in about a millisecond instead of the ~0.5 s of CPU that the calibrated parameters cost (restic
// calibrates its key derivation to 500 ms at init). The master key, and so every byte restic stores, is
// unchanged: only the key file's own encryption changes. Called by ./restic (the wrapper on the test PATH)
// with the arguments and environment restic had; prints nothing on success. A repository it cannot handle
// (not local, more than one key, no password in the environment) is left as restic made it.
//
// Format (restic internal/repository/key.go and crypto/): a key file is JSON {created, username,
// hostname, kdf: "scrypt", N, r, p, salt, data}; scrypt(password, salt, N, r, p) gives 64 bytes, the
// first 32 an AES-256 key, the next 16 the AES-128 key K and the last 16 the Poly1305 key R of the MAC;
// data = nonce(16) || AES-256-CTR(nonce, master key JSON) || Poly1305(R, AES-128_K(nonce))(ciphertext).
// The file's name is the SHA-256 of its bytes.
import { createCipheriv, createDecipheriv, createHash, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { Buffer } from 'node:buffer';
import process from 'node:process';
import { chmodSync, readFileSync, readdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const FAST = { N: 1024, r: 8, p: 1 };

/** The value of the first of `names` given as an option (`-r X`, `--repo=X`), if any. */
function option(args, ...names) {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? '';
    for (const name of names) {
      if (a === name) return args[i + 1];
      if (a.startsWith(`${name}=`)) return a.slice(name.length + 1);
    }
  }
  return undefined;
}

/** @param {Buffer} b little-endian bytes @returns {bigint} */
function le(b) {
  let x = 0n;
  for (let i = b.length - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[i] ?? 0);
  return x;
}

/** Poly1305-AES as restic computes it: key K encrypts the nonce into s, R (clamped) is the polynomial key. */
function mac(ciphertext, nonce, macKey) {
  const aes = createCipheriv('aes-128-ecb', macKey.subarray(0, 16), null).setAutoPadding(false);
  const s = le(aes.update(nonce));
  const r = le(macKey.subarray(16, 32)) & 0x0ffffffc0ffffffc0ffffffc0fffffffn;
  const p = (1n << 130n) - 5n;
  let acc = 0n;
  for (let i = 0; i < ciphertext.length; i += 16) {
    const block = ciphertext.subarray(i, i + 16);
    acc = ((acc + le(block) + (1n << BigInt(8 * block.length))) * r) % p;
  }
  acc = (acc + s) & ((1n << 128n) - 1n);
  const out = Buffer.alloc(16);
  for (let i = 0; i < 16; i++, acc >>= 8n) out[i] = Number(acc & 0xffn);
  return out;
}

function userKey(password, salt, { N, r, p }) {
  const key = scryptSync(password, salt, 64, { N, r, p, maxmem: 256 * N * r + (1 << 20) });
  return { encrypt: key.subarray(0, 32), mac: key.subarray(32, 64) };
}

function main(args) {
  const repo = option(args, '-r', '--repo') ?? process.env.RESTIC_REPOSITORY;
  const passwordFile = option(args, '-p', '--password-file') ?? process.env.RESTIC_PASSWORD_FILE;
  const password = process.env.RESTIC_PASSWORD ?? (passwordFile ? readFileSync(passwordFile, 'utf8').replace(/\r?\n$/, '') : undefined);
  if (!repo || password === undefined) return;
  const dir = repo.startsWith('local:') ? repo.slice('local:'.length) : repo;
  if (/^[a-z0-9]+:/i.test(dir)) return; // sftp:, rest:, s3: …: not a local directory
  const keysDir = path.join(dir, 'keys');
  const names = readdirSync(keysDir);
  if (names.length !== 1) return;
  const oldPath = path.join(keysDir, names[0]);
  const old = JSON.parse(readFileSync(oldPath, 'utf8'));
  if (old.kdf !== 'scrypt') return;
  const data = Buffer.from(old.data, 'base64');
  const nonce = data.subarray(0, 16);
  const ciphertext = data.subarray(16, data.length - 16);
  const oldUser = userKey(password, Buffer.from(old.salt, 'base64'), { N: old.N, r: old.r, p: old.p });
  if (!timingSafeEqual(mac(ciphertext, nonce, oldUser.mac), data.subarray(data.length - 16))) {
    throw new Error(`restic-fast-key: the key of ${dir} does not open with the given password (MAC mismatch)`);
  }
  const decipher = createDecipheriv('aes-256-ctr', oldUser.encrypt, nonce);
  const master = Buffer.concat([decipher.update(ciphertext), decipher.final()]);

  const salt = randomBytes(64);
  const newNonce = randomBytes(16);
  const newUser = userKey(password, salt, FAST);
  const cipher = createCipheriv('aes-256-ctr', newUser.encrypt, newNonce);
  const newCiphertext = Buffer.concat([cipher.update(master), cipher.final()]);
  const newData = Buffer.concat([newNonce, newCiphertext, mac(newCiphertext, newNonce, newUser.mac)]);
  const file = Buffer.from(JSON.stringify({ ...old, ...FAST, salt: salt.toString('base64'), data: newData.toString('base64') }));
  const newPath = path.join(keysDir, createHash('sha256').update(file).digest('hex'));
  const mode = statSync(oldPath).mode & 0o777;
  writeFileSync(newPath, file, { mode: 0o600 });
  chmodSync(newPath, mode);
  unlinkSync(oldPath);
}

main(process.argv.slice(2));
