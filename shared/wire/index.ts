export * from './frames'
export * from './rest'
