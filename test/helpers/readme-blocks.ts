/**
 * Reads README.md the way its tests need it: the ```ts blocks (each one a
 * program, unless marked `<!-- fragment -->` on the line before its fence) and
 * the codes listed in the "Error codes" table.
 */

/** One ```ts block of the README. */
export interface ReadmeBlock {
  /** The 1-based line of the opening fence, to name the block in failures. */
  readonly line: number;
  readonly code: string;
  /** Marked `<!-- fragment -->`: type-checked, not run. */
  readonly fragment: boolean;
}

const FRAGMENT = "<!-- fragment -->";

/** Every ```ts block, in order. */
export function readmeBlocks(markdown: string): ReadmeBlock[] {
  const lines = markdown.split("\n");
  const blocks: ReadmeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== "```ts") continue;
    const end = lines.findIndex((line, j) => j > i && line.trim() === "```");
    if (end < 0) throw new Error(`README.md:${i + 1}: a \`\`\`ts block is never closed`);
    blocks.push({ line: i + 1, code: `${lines.slice(i + 1, end).join("\n")}\n`, fragment: lines[i - 1]?.trim() === FRAGMENT });
    i = end;
  }
  return blocks;
}

/** The codes in the first column of the table under "## Error codes". */
export function errorTableCodes(markdown: string): string[] {
  const start = markdown.indexOf("\n## Error codes");
  if (start < 0) throw new Error('README.md has no "## Error codes" section');
  const next = markdown.indexOf("\n## ", start + 1);
  const section = markdown.slice(start, next < 0 ? undefined : next);
  return [...section.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]!);
}

/** The members of the `NetErrorCode` union, read from the source of src/errors.ts. */
export function netErrorCodes(errorsSource: string): string[] {
  const union = /export type NetErrorCode =([^;]+);/.exec(errorsSource)?.[1];
  if (union === undefined) throw new Error("src/errors.ts has no NetErrorCode union");
  return [...union.matchAll(/"([A-Z_]+)"/g)].map((m) => m[1]!);
}

/** The anchors GitHub gives the headings: lower case, punctuation dropped, spaces as hyphens. */
export function headingAnchors(markdown: string): Set<string> {
  const outsideCode = markdown.replace(/^```[\s\S]*?^```/gm, "");
  return new Set(
    [...outsideCode.matchAll(/^#{1,6} (.+)$/gm)].map((m) =>
      m[1]!.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, "").replace(/ /g, "-"),
    ),
  );
}

/** The targets of in-page links, `[text](#anchor)`. */
export function anchorLinks(markdown: string): string[] {
  return [...markdown.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1]!);
}
