/**
 * Reading the audit log from disk: the rotations oldest first
 * (`audit.log.2`, `audit.log.1`), then the live file.
 *
 * @module
 */

/** The files of a rotated log, oldest first; only those that exist. */
export async function auditFiles(path: string, maxRotations = 9): Promise<string[]> {
  const rotated: string[] = [];
  for (let i = 1; i <= maxRotations; i++) {
    const candidate = `${path}.${i}`;
    if (!(await exists(candidate))) break;
    rotated.push(candidate);
  }
  return rotated.reverse();
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Every line of the rotations, oldest first (the live file is read by the caller or follower). */
export async function readRotatedLines(path: string): Promise<string[]> {
  const lines: string[] = [];
  for (const file of await auditFiles(path)) {
    lines.push(...(await Deno.readTextFile(file)).split("\n"));
  }
  return lines;
}

/**
 * Every line of the log, oldest first (`maxRotations` 0: only the file at
 * `path`); none when there is no log yet.
 */
export async function readAuditLines(path: string, maxRotations = 9): Promise<string[]> {
  const lines: string[] = [];
  for (const file of await auditFiles(path, maxRotations)) {
    lines.push(...(await Deno.readTextFile(file)).split("\n"));
  }
  try {
    lines.push(...(await Deno.readTextFile(path)).split("\n"));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return lines;
}
