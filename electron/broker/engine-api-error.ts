/**
 * The error an engine REST call fails with. Its own module (no zod, no schemas) so that
 * what only needs to recognise it — the `relay` command's error explainer — loads fast.
 */
export class EngineApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status?: number,
  ) {
    super(message)
    this.name = 'EngineApiError'
  }
}
