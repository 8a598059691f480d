export * from './dates.js';
export * from './locales.js';
export { clientMessages, translator } from './translator.js';
