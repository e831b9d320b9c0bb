export async function suggestCommand(_args: string[]): Promise<number> {
  return Promise.resolve(2);
}
