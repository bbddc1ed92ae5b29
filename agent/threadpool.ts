/**
 * Imported first by the agent's main, for its side effect: libuv's thread pool (which runs every file
 * operation) gets 16 threads instead of 4, unless set otherwise. The deletion shield reconciles many
 * paths at once and must keep up with a busy FindFace host while a backup reads files beside it.
 */
process.env.UV_THREADPOOL_SIZE ??= '16';
