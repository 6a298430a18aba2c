/**
 * The built `relay` program for Node (out/relay/relay.mjs, scripts/build-relay.mjs): the
 * CLI and the MCP server, run by bin/relay.mjs. Inside the app the same program runs in
 * the Electron main process, reached with `--relay-cli` (electron/main/relay-cli.ts).
 */
import { main } from './cli'

void main()
