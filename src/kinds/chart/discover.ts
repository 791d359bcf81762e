/** Chart image discovery: see discover/index.ts (rendering) and discover/values.ts (the values finder). */
export * from './discover/index.js';
