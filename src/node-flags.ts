/**
 * Node/V8 flags sori is started with: `npm start`, the Dockerfile, and the
 * benchmark's launchers (a test keeps package.json and the Dockerfile in step
 * with this list). V8 reads them only when the process starts, so they must
 * be on node's command line (or in NODE_OPTIONS), not set from inside.
 *
 * --max-semi-space-size=64: V8's young generation (two 64 MiB semi-spaces
 * instead of Node 20's 16 MiB). Under chat load, messages in flight (waiting
 * for their archive batch) survived the frequent small scavenges, were
 * promoted, and so brought a full GC every ~5 s whose marking steps and
 * pause held the event loop for 50–70 ms: every message of that moment
 * arrived late. With 64 MiB, chat at 6,500–8,000 msg/s had p99 7–13 ms
 * against 54–194 ms, and used less CPU (docs/performance-log.md). The cost is a
 * fixed ~75 MiB more RSS under load, not a per-session one.
 */
export const nodeRuntimeFlags: readonly string[] = ['--max-semi-space-size=64'];

/** The flags of nodeRuntimeFlags this process was started without (command line or NODE_OPTIONS). */
export function missingRuntimeFlags(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  const given = new Set([...execArgv, ...nodeOptions.split(' ')]);
  return nodeRuntimeFlags.filter((flag) => !given.has(flag));
}
