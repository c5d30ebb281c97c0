/**
 * Validates a generated config.json against the official OCI runtime-spec v1.0.2 JSON schema, read
 * at test time from ../shared beside the checkout (never copied into the repository).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import AjvDraft04 from "ajv-draft-04";

// A CommonJS module whose export is the class itself (with .default pointing at it too).
const Ajv = AjvDraft04.default;

const repo = join(dirname(fileURLToPath(import.meta.url)), "../..");
// ../shared beside the checkout, or two levels up for a git worktree (e.g. /work/wt/<branch>).
const CANDIDATES = [join(repo, "../shared/oci-runtime-spec/v1.0.2"), join(repo, "../../shared/oci-runtime-spec/v1.0.2")];
export const SCHEMA_DIR = CANDIDATES.find((d) => existsSync(join(d, "config-schema.json"))) ?? (CANDIDATES[0] as string);

let validate: ((data: unknown) => boolean) & { errors?: unknown };

export function validateOciConfig(config: unknown): string[] {
  if (!validate) {
    if (!existsSync(join(SCHEMA_DIR, "config-schema.json"))) {
      throw new Error(`OCI runtime-spec schemas not found at ${SCHEMA_DIR}: the tests need ../shared beside the checkout`);
    }
    const ajv = new Ajv({ allErrors: true, strict: false });
    for (const file of readdirSync(SCHEMA_DIR)) {
      if (!file.endsWith(".json") || file === "config-schema.json") continue;
      ajv.addSchema(JSON.parse(readFileSync(join(SCHEMA_DIR, file), "utf8")), file);
    }
    validate = ajv.compile(JSON.parse(readFileSync(join(SCHEMA_DIR, "config-schema.json"), "utf8")));
  }
  if (validate(config)) return [];
  return ((validate.errors ?? []) as { instancePath: string; message?: string }[]).map((e) => `${e.instancePath} ${e.message ?? ""}`);
}
