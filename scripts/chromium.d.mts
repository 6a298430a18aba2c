export declare const CANDIDATES: string[]
export declare function findChromium(env?: NodeJS.ProcessEnv): string | undefined
