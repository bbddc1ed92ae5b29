/**
 * The port agent discovery reads a FindFace host through: host paths (`/etc/findface-sf-api.ini`) looked
 * up under a root. The adapter is agent/adapters/fs-host-tree.ts; tests use an in-memory tree.
 */
export interface HostTree {
  /**
   * Where the host's `hostPath` is looked for on this machine (`<root>/etc/...`): what the output names.
   * A path already inside the root is kept as it is (a tree such as the dev site's names absolute paths
   * of this machine in its files).
   */
  where(hostPath: string): string;
  /** A host file's text; undefined when it does not exist (any other read failure throws). */
  read(hostPath: string): string | undefined;
  /** Names in a host directory (sorted); undefined when it does not exist. */
  list(hostDir: string): string[] | undefined;
  /**
   * A directory a host file or a FindFace default names, as it lies on this machine (`where`), symlinks
   * resolved (a backup reads the files, not the link); undefined when it does not exist.
   */
  findDir(named: string): string | undefined;
}
