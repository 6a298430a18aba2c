/** Request lines no HTTP client would send must get an answer, not take the engine down. */
import { afterEach, describe, expect, it } from 'vitest'
import { startEngine, type RunningEngine } from '../../electron/engine'
import { tempDir } from '../support/wait'
import { rawRequest } from '../support/raw-http'

let engine: RunningEngine | undefined
afterEach(async () => {
  await engine?.close()
  engine = undefined
})


describe('engine and malformed URLs', () => {
  it('answers a malformed upgrade URL with 400 and keeps serving', async () => {
    engine = await startEngine({ port: 0, dataDir: tempDir('badurl') })
    const answer = await rawRequest(
      engine.port,
      'GET //[ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    )
    expect(answer).toMatch(/^HTTP\/1\.1 400/)
    const plain = await rawRequest(engine.port, 'GET //[ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')
    expect(plain).toMatch(/^HTTP\/1\.1 [45]\d\d/)
    expect((await fetch(`${engine.url}/health`)).status).toBe(200)
  })
})
