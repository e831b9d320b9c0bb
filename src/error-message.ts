/**
 * The text of something thrown: an Error's message, or the value itself. `catch` hands TypeScript an
 * `unknown`, and a rejected promise may carry anything; events and operator messages want a string.
 */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
