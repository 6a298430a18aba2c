/**
 * A real engine on 127.0.0.1 (port 0, temp data dir), a workspace, agents with their
 * own tokens, and the real `relay` command run as a child process from a directory
 * outside the project (as an agent would, anywhere on disk).
 */
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { join, resolve } from 'node:path'
import { z } from 'zod'
import { EngineApi } from '../../electron/broker/engine-api'
import { startEngine, type RunningEngine } from '../../electron/engine'
import { tempDir } from '../support/wait'

export const ROOT = resolve(__dirname, '../..')
export const RELAY_MJS = join(ROOT, 'bin', 'relay.mjs')

export interface TestAgent {
  name: string
  token: string
}

export interface World {
  engine: RunningEngine
  api: EngineApi
  key: string
  workspaceId: string
  agent(name: string): Promise<TestAgent>
  /** The environment Relay Desktop gives an agent, and nothing else of ours. */
  envFor(a: TestAgent): NodeJS.ProcessEnv
  close(): Promise<void>
}

/** process.env without any RELAY_* / workspace variables of the machine running the tests. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(AGENT_)?RELAY_/.test(k)) env[k] = v
  }
  return env
}

export async function world(): Promise<World> {
  const engine = await startEngine({ port: 0, dataDir: tempDir('agent-tools-engine') })
  const api = new EngineApi({ baseUrl: engine.url })
  const ws = await api.createWorkspace(`t-${Math.random().toString(36).slice(2)}`)
  const w: World = {
    engine,
    api,
    key: ws.api_key,
    workspaceId: ws.workspace_id,
    agent: async (name) => {
      const a = await api.ensureAgent(ws.api_key, name)
      return { name: a.name, token: a.token }
    },
    envFor: (a) => ({
      ...cleanEnv(),
      RELAY_BASE_URL: engine.url,
      RELAY_AGENT_NAME: a.name,
      RELAY_AGENT_TOKEN: a.token,
      RELAY_WORKSPACE_ID: ws.workspace_id,
    }),
    close: () => engine.close(),
  }
  return w
}

export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Run `node bin/relay.mjs …` from a temp directory, as an agent process would. */
export function runRelay(args: string[], env: NodeJS.ProcessEnv, stdin?: string, timeoutMs = 30_000): Promise<RunResult> {
  return runCommand(process.execPath, [RELAY_MJS, ...args], env, stdin, timeoutMs)
}

/** Run a command from a temp directory, collecting its output (never blocks this process: the engine lives here). */
export function runCommand(command: string, args: string[], env: NodeJS.ProcessEnv, stdin?: string, timeoutMs = 30_000): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd: tempDir('agent-cwd'), env, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${command} ${args.join(' ')} did not finish in ${timeoutMs} ms\n${stdout}\n${stderr}`))
    }, timeoutMs)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolvePromise({ code, stdout, stderr })
    })
    child.stdin.end(stdin ?? '')
  })
}

/** A port nothing listens on (bound, then released). */
export function closedPort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer()
    srv.once('error', rej)
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port
      srv.close(() => res(port))
    })
  })
}

const looseArray = z.array(z.looseObject({}))
const messageList = z.array(z.looseObject({ id: z.string(), text: z.string(), agent_name: z.string().optional() }))

/** Every DM message visible to an agent (all its conversations), through the engine. */
export async function dmsOf(w: World, a: TestAgent): Promise<Array<{ id: string; text: string; agent_name?: string }>> {
  const convs = await w.api.request('GET', '/v1/dm/conversations', { token: a.token, schema: looseArray })
  const out: Array<{ id: string; text: string; agent_name?: string }> = []
  for (const c of convs) {
    const id = String((c as { id?: string; conversation_id?: string }).id ?? (c as { conversation_id?: string }).conversation_id)
    out.push(...(await w.api.request('GET', `/v1/dm/${id}/messages`, { token: a.token, schema: messageList })))
  }
  return out
}

export async function channelMessages(w: World, channel: string): Promise<Array<{ id: string; text: string }>> {
  return w.api.request('GET', `/v1/channels/${channel}/messages`, { token: w.key, schema: messageList })
}

const inboxSchema = z.looseObject({
  unread_dms: z.array(z.looseObject({ from: z.string().optional(), last_message: z.looseObject({ id: z.string(), text: z.string() }).optional() })),
})

export async function inboxOf(w: World, a: TestAgent) {
  return w.api.request('GET', '/v1/inbox', { token: a.token, schema: inboxSchema })
}
