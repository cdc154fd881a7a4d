/** The BGP-4 wire codec: no I/O, no timers, no logging. */
export * from './iana.js';
export * from './errors.js';
export * from './context.js';
export * from '../../net/ip.js';
export * from './prefix.js';
export * from './nlri.js';
export * from './header.js';
export * from './capabilities.js';
export * from './open.js';
export * from './notification.js';
export * from './route-refresh.js';
export * from './update.js';
export * from './validate.js';
export * from './message.js';
export * from './json.js';
export * from './attributes/index.js';
