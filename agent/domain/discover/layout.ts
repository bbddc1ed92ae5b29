/**
 * Where FindFace keeps what agent discovery reads, as paths on a FindFace host (discovery looks for them
 * under `--root`). One module: nobody writes these paths inline.
 */

/** findface-sf-api's config: `storage-api.shards[].master`. */
export const SF_API_INI = '/etc/findface-sf-api.ini';

/** findface-extraction-api's config: the model of each kind, `models_root` (a model migration edits it). */
export const EXTRACTION_API_INI = '/etc/findface-extraction-api.ini';

/** Tarantool instance files: the enabled ones (links), else every available one. */
export const INSTANCES_ENABLED = '/etc/tarantool/instances.enabled';
export const INSTANCES_AVAILABLE = '/etc/tarantool/instances.available';

/** findface-security's config.py: FindFace Security 4.x, then FindFace Multi. */
export const SECURITY_CONFIGS = ['/etc/ffsecurity/config.py', '/etc/findface-security/config.py'] as const;

/** The pgbouncer in front of `ffsecurity` (Debian's package path). */
export const PGBOUNCER_INIS = ['/etc/pgbouncer/pgbouncer.ini'] as const;

/** Upload directories when config.py names none: FindFace Multi's, then FindFace Security 4.x's. */
export const DEFAULT_MEDIA_ROOTS = ['/var/lib/findface-security/uploads', '/var/lib/ffsecurity/uploads'] as const;

/** findface-upload's directory (normalized images): named by no config file, always this path. */
export const FFUPLOAD_DIR = '/var/lib/ffupload';

/** tarantoolctl's `work_dir` of an instance when its file sets none. */
export const tarantoolWorkDirDefault = (instance: string): string => `/var/lib/tarantool/${instance}`;

/** systemd unit of a FindFace Tarantool shard. */
export const tarantoolUnit = (instance: string): string => `tarantool@${instance}`;

/** Where `ffkeeper-agent enrol --out` is told to write (README § Security). */
export const DEFAULT_TLS_DIR = '/etc/ffkeeper/tls';
