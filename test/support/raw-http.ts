/** Bytes on a raw socket: lets a test send request lines no HTTP client would produce. */
import { connect } from 'node:net'

export function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => sock.write(text))
    let out = ''
    sock.on('data', (d) => {
      out += d
      if (out.includes('\r\n\r\n')) sock.destroy()
    })
    sock.on('close', () => resolve(out))
    sock.on('error', reject)
  })
}
