/**
 * `relay-desktop --relay-cli <args>`: the app binary running the `relay` program (the
 * CLI, or the MCP server with `mcp`) in its main process, instead of opening the app.
 * This is how agents of the packaged app talk back without a Node install and without
 * the RunAsNode fuse (see relayInvocation in agent-tools/launch.ts). Checked before the
 * single-instance lock: a `relay` call must never be taken for a second app start.
 */
export function relayCliArgs(argv: readonly string[]): string[] | undefined {
  const i = argv.indexOf('--relay-cli')
  return i === -1 ? undefined : argv.slice(i + 1)
}

export interface RelayCliDeps {
  /** macOS: no Dock icon for a command-line run. */
  hideDock(): void
  /** The relay program's entry (agent-tools/cli main): runs, then exits the process. */
  run(args: string[]): Promise<void>
}

export async function runRelayCli(args: string[], deps: RelayCliDeps): Promise<void> {
  deps.hideDock()
  await deps.run(args)
}
