/** IP addresses and CIDRs: one parser, one formatter (see ip.ts and cidr.ts). */
export * from './ip.js';
export * from './cidr.js';
