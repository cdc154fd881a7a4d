/** A bad option value or combination: the command exits 2 (usage), not 1 (failure). */
export class UsageError extends Error {}
