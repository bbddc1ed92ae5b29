// Preloaded into the test S3 server (`node --import` this file, then s3rver's bin): its object deletion
// keeps the directories it empties. s3rver removes a key's parent directories once empty; a PUT into the
// same directory at that moment (a restic process writing its lock while another removes the last one)
// then opens its file in a directory just removed, and the unhandled ENOENT of that write stream kills
// the server (seen in clean-clone runs: the restic run of a restore in flight was refused). An empty
// directory holds no key, so listings are unchanged.
import fs from 'node:fs/promises';
// The CommonJS module s3rver itself loads (one module cache): patched before s3rver starts.
import FilesystemStore from 's3rver/lib/stores/filesystem.js';

FilesystemStore.prototype.deleteObject = async function deleteObject(bucket, key) {
  await Promise.all(
    ['object', 'object.md5', 'metadata.json'].map((kind) =>
      fs.unlink(this.getResourcePath(bucket, key, kind)).catch((err) => {
        if (err.code !== 'ENOENT') throw err;
      }),
    ),
  );
};
