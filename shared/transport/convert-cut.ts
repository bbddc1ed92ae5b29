/** Conversions of cut points, artifacts and repository access to and from their proto messages. */
import type {
  ComponentArtifact as PbArtifact,
  CutPoint as PbCutPoint,
  RepositoryAccess as PbRepositoryAccess,
} from '../../proto/gen/ffkeeper/v1/agent.js';
import { ValidationError } from '../errors.js';
import type { ComponentArtifact, CutPoint } from '../manifest.js';
import type { RepositoryAccess } from '../repository/access.js';
import type { SshAccess } from '../repository/restic-ssh.js';

export function cutPointToProto(c: CutPoint): PbCutPoint {
  const base = { component: c.component, time: c.time };
  switch (c.kind) {
    case 'postgres':
      return { ...base, detail: { $case: 'postgres', value: { snapshotName: c.snapshotName, lsn: c.lsn } } };
    case 'tarantool':
      return { ...base, detail: { $case: 'tarantool', value: { vclock: c.vclock, signature: c.signature } } };
    case 'uploads':
      return { ...base, detail: { $case: 'uploads', value: {} } };
  }
}

export function cutPointFromProto(c: PbCutPoint): CutPoint {
  const time = c.time ?? new Date(0);
  const d = c.detail;
  switch (d?.$case) {
    case 'postgres':
      return { kind: 'postgres', component: c.component, time, snapshotName: d.value.snapshotName, lsn: d.value.lsn };
    case 'tarantool':
      return { kind: 'tarantool', component: c.component, time, vclock: d.value.vclock, signature: d.value.signature };
    case 'uploads':
      return { kind: 'uploads', component: c.component, time };
    default:
      throw new ValidationError(`cut point of '${c.component}' has no detail`, { field: 'cut' });
  }
}

export function artifactToProto(a: ComponentArtifact): PbArtifact {
  return {
    component: a.component,
    kind: a.kind,
    cut: cutPointToProto(a.cut),
    snapshotIds: a.snapshotIds,
    bytes: a.bytes,
    files: a.files,
    dataAddedBytes: a.dataAddedBytes,
    checksums: a.checksums ?? {},
    missing: a.missing ?? [],
    detailsJson: a.details ? JSON.stringify(a.details) : '',
  };
}

export function artifactFromProto(a: PbArtifact): ComponentArtifact {
  if (!a.cut) throw new ValidationError(`artifact of '${a.component}' has no cut point`, { field: 'cut' });
  const cut = cutPointFromProto(a.cut);
  return {
    component: a.component,
    kind: cut.kind,
    cut,
    snapshotIds: a.snapshotIds,
    bytes: a.bytes,
    files: a.files,
    dataAddedBytes: a.dataAddedBytes,
    ...(Object.keys(a.checksums).length > 0 ? { checksums: a.checksums } : {}),
    ...(a.missing.length > 0 ? { missing: a.missing } : {}),
    ...(a.detailsJson ? { details: JSON.parse(a.detailsJson) as Record<string, string | number | boolean> } : {}),
  };
}

export function accessFromProto(a: PbRepositoryAccess | undefined): RepositoryAccess {
  return {
    url: a?.url ?? '',
    password: a?.password ?? '',
    env: a?.env ?? {},
    ...(a?.caCert ? { caCert: a.caCert } : {}),
    ...(a?.ssh ? { ssh: sshFromProto(a.ssh) } : {}),
  };
}

export function accessToProto(a: RepositoryAccess): PbRepositoryAccess {
  return { url: a.url, password: a.password, env: a.env, caCert: a.caCert ?? '', ssh: a.ssh ? { password: a.ssh.password ?? '', knownHosts: a.ssh.knownHosts, privateKey: a.ssh.privateKey ?? '' } : undefined };
}

/** An sftp: login as sent: the password or the key, whichever is set. */
function sshFromProto(s: { password: string; knownHosts: string; privateKey: string }): SshAccess {
  return { knownHosts: s.knownHosts, ...(s.privateKey ? { privateKey: s.privateKey } : { password: s.password }) };
}
