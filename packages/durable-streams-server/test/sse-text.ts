/** Reads an SSE response's text as it comes: `until(done)` reads on until `done(text)` holds. */
export function sseReader(res: Response): { until(done: (text: string) => boolean): Promise<string>; cancel(): Promise<void> } {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  return {
    async until(done) {
      while (!done(text)) {
        const { value, done: ended } = await reader.read();
        if (ended) break;
        text += decoder.decode(value, { stream: true });
      }
      return text;
    },
    cancel: () => reader.cancel(),
  };
}
