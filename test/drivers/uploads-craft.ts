/**
 * Crafts hostile restic snapshots for the restore-safety tests: takes a real snapshot, rewrites the tree
 * of one directory (e.g. adds an entry named `..`), and stores the new trees, index and snapshot in the
 * repository the way restic would — encrypted with the repository's master key (AES-256-CTR +
 * Poly1305-AES, repository format: https://restic.readthedocs.io/en/stable/100_references.html).
 * Only test code writes repositories by hand; it reads them with the restic CLI.
 */
import { execFileSync } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

interface MasterKey {
  encrypt: Buffer;
  macK: Buffer;
  macR: Buffer;
}

/** A node of a restic tree, as restic stores it (only the fields these tests touch are typed). */
export interface TreeNode {
  name: string;
  type: string;
  subtree?: string;
  content?: string[] | null;
  [field: string]: unknown;
}

const P1305 = (1n << 130n) - 5n;

function leToBig(buf: Buffer): bigint {
  let n = 0n;
  for (let i = buf.length - 1; i >= 0; i -= 1) n = (n << 8n) | BigInt(buf[i] ?? 0);
  return n;
}

function bigToLe16(n: bigint): Buffer {
  const out = Buffer.alloc(16);
  for (let i = 0; i < 16; i += 1) out[i] = Number((n >> BigInt(8 * i)) & 0xffn);
  return out;
}

/** Poly1305 with key r || s. */
function poly1305(msg: Buffer, r16: Buffer, s16: Buffer): Buffer {
  const r = leToBig(r16) & 0x0ffffffc0ffffffc0ffffffc0fffffffn;
  let acc = 0n;
  for (let i = 0; i < msg.length; i += 16) {
    const chunk = Buffer.concat([msg.subarray(i, i + 16), Buffer.from([1])]);
    acc = ((acc + leToBig(chunk)) * r) % P1305;
  }
  return bigToLe16((acc + leToBig(s16)) & ((1n << 128n) - 1n));
}

function encrypt(key: MasterKey, plaintext: Buffer): Buffer {
  const iv = randomBytes(16);
  const ct = createCipheriv('aes-256-ctr', key.encrypt, iv).update(plaintext);
  const s = createCipheriv('aes-128-ecb', key.macK, null).setAutoPadding(false).update(iv);
  return Buffer.concat([iv, ct, poly1305(ct, key.macR, s)]);
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Reads and writes one local repository through the restic CLI plus hand-made files. */
export class RepoCrafter {
  private readonly env: NodeJS.ProcessEnv;

  constructor(private readonly dir: string, password: string) {
    this.env = { ...process.env, RESTIC_REPOSITORY: dir, RESTIC_PASSWORD: password };
  }

  private cat(...args: string[]): string {
    return execFileSync('restic', ['--no-cache', 'cat', ...args], { env: this.env, encoding: 'utf8' });
  }

  private masterKey(): MasterKey {
    const raw = JSON.parse(this.cat('masterkey')) as { encrypt: string; mac: { k: string; r: string } };
    return { encrypt: Buffer.from(raw.encrypt, 'base64'), macK: Buffer.from(raw.mac.k, 'base64'), macR: Buffer.from(raw.mac.r, 'base64') };
  }

  private tree(id: string): { nodes: TreeNode[] } {
    return JSON.parse(this.cat('blob', id)) as { nodes: TreeNode[] };
  }

  /**
   * A new snapshot equal to `snapshotId` except that the tree at `dirPath` gets `edit` applied.
   * Returns the new snapshot's id.
   */
  async rewrite(snapshotId: string, dirPath: string, edit: (nodes: TreeNode[]) => TreeNode[]): Promise<string> {
    const snap = JSON.parse(this.cat('snapshot', snapshotId)) as { tree: string; time: string };
    const chain = [this.tree(snap.tree)];
    const names = dirPath.split('/').filter(Boolean);
    for (const name of names) {
      const node = chain.at(-1)?.nodes.find((n) => n.name === name);
      if (!node?.subtree) throw new Error(`no directory '${name}' on the way to ${dirPath} in snapshot ${snapshotId}`);
      chain.push(this.tree(node.subtree));
    }
    const blobs: Buffer[] = [];
    let childId = '';
    for (let level = chain.length - 1; level >= 0; level -= 1) {
      const tree = chain[level] as { nodes: TreeNode[] };
      let nodes = level === chain.length - 1 ? edit(tree.nodes) : tree.nodes.map((n) => (n.name === names[level] ? { ...n, subtree: childId } : n));
      nodes = [...nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const plain = Buffer.from(`${JSON.stringify({ nodes })}\n`);
      childId = sha256(plain);
      blobs.push(plain);
    }
    return this.store(blobs, { ...snap, tree: childId, time: new Date().toISOString() });
  }

  private async put(kind: string, content: Buffer): Promise<string> {
    const id = sha256(content);
    const dir = kind === 'data' ? path.join(this.dir, 'data', id.slice(0, 2)) : path.join(this.dir, kind);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, id), content, { mode: 0o400 });
    return id;
  }

  private async store(treeBlobs: Buffer[], snapshot: object): Promise<string> {
    const key = this.masterKey();
    const parts: Buffer[] = [];
    const header: Buffer[] = [];
    const index: { id: string; type: string; offset: number; length: number }[] = [];
    let offset = 0;
    for (const plain of treeBlobs) {
      const enc = encrypt(key, plain);
      const id = sha256(plain);
      parts.push(enc);
      const len = Buffer.alloc(4);
      len.writeUInt32LE(enc.length);
      header.push(Buffer.from([1]), len, Buffer.from(id, 'hex')); // type 1 = tree, uncompressed
      index.push({ id, type: 'tree', offset, length: enc.length });
      offset += enc.length;
    }
    const encHeader = encrypt(key, Buffer.concat(header));
    const hlen = Buffer.alloc(4);
    hlen.writeUInt32LE(encHeader.length);
    const packId = await this.put('data', Buffer.concat([...parts, encHeader, hlen]));
    await this.put('index', encrypt(key, Buffer.from(JSON.stringify({ packs: [{ id: packId, blobs: index }] }))));
    return this.put('snapshots', encrypt(key, Buffer.from(JSON.stringify(snapshot))));
  }
}
