import { hostContext } from "../actions/context.ts";
import { doctor } from "../actions/doctor.ts";
import { defineCommand } from "../core/command.ts";
import { doctorFailed, formatChecks } from "../core/doctor.ts";
import { parseCommand, tooMany } from "./args.ts";

export const command = defineCommand({
  name: "doctor",
  positionals: [],
  description: `Check this host for cm, one line per check with what to do about it: runc and its version, the
known runc CVEs that version has (CVE-2024-21626, CVE-2024-45310, CVE-2025-31133, CVE-2025-52565,
CVE-2025-52881; distribution backports counted), seccomp support, user namespaces (and what blocks
them: Ubuntu's AppArmor restriction, Debian's unprivileged_userns_clone, max_user_namespaces=0),
newuidmap and subordinate id ranges, cgroup version and the controllers delegated to you, whether
your systemd and its D-Bus are reachable, mmdebstrap, cm's directories and free disk space. In a project with bundles: whether each bundle trusts the
certificate authorities the host trusts ($SSL_CERT_FILE, else the system bundle), and if not,
how to make its runs trust them (--host-ca).

Each line starts with OK, WARN (cm works, with a weaker guarantee or without a feature) or FAIL
(cm cannot work as this user). Exit status: 0 when nothing FAILs, 1 when something does.`,
  options: {
    json: { type: "boolean", help: 'print {"ok": BOOL, "checks": [{id, status, message, fix?}]}' },
  },
});

export async function main(argv: string[]): Promise<number> {
  const p = parseCommand(command, argv);
  if (p.positionals.length > 0 || p.rest.length > 0) throw tooMany("doctor", [...p.positionals, ...p.rest]);
  const checks = await doctor(hostContext({ report: true }));
  const failed = doctorFailed(checks);
  process.stdout.write(p.values.json ? `${JSON.stringify({ ok: !failed, checks }, null, 2)}\n` : `${formatChecks(checks)}\n`);
  return failed ? 1 : 0;
}
