import type { ITerminalOptions } from '@xterm/xterm'

/** Matches the app's dark palette in styles.css. */
export const terminalOptions: ITerminalOptions = {
  fontFamily: 'ui-monospace, "SF Mono", Menlo, Consolas, "DejaVu Sans Mono", monospace',
  fontSize: 12,
  lineHeight: 1.1,
  scrollback: 5000,
  cursorBlink: false,
  theme: {
    background: '#0d1117',
    foreground: '#c9d1d9',
    cursor: '#c9d1d9',
    selectionBackground: '#264f78',
  },
}
