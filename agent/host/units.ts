// The systemd units of a host install, rendered from the flags of the command they run. Pure.
// KillMode=process: stopping the agent stops only the agent (it stops its containerd itself);
// pod shims keep running and the next agent adopts them, as a kubelet's pods survive its restart.

export type Role = 'server' | 'agent';

/** One argument of ExecStart, quoted as systemd.service(5) reads it. */
export function systemdArg(a: string): string {
  if (/[\n\r"\\]/.test(a)) throw new Error(`argument ${JSON.stringify(a)} cannot go into a unit file`);
  const escaped = a.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  return /[\s;']/.test(escaped) || escaped === '' ? `"${escaped}"` : escaped;
}

export function unitName(role: Role): string {
  return `skiff-${role}.service`;
}

export function renderUnit(role: Role, skiff: string, flags: string[]): string {
  const what =
    role === 'server'
      ? 'Skiff control plane (API server, controllers, scheduler)'
      : 'Skiff node agent (containerd, pods, node status)';
  const after = role === 'agent' ? 'network-online.target skiff-server.service' : 'network-online.target';
  return `# Written by \`skiff install ${role}\`; \`skiff reset\` / \`skiff agent --uninstall\` remove it.
[Unit]
Description=${what}
Wants=network-online.target
After=${after}

[Service]
Type=simple
ExecStart=${[skiff, role, ...flags].map(systemdArg).join(' ')}
Restart=always
RestartSec=2
KillMode=${role === 'agent' ? 'process' : 'control-group'}
Delegate=yes
LimitNOFILE=1048576
StandardOutput=journal
StandardError=journal
SyslogIdentifier=skiff-${role}

[Install]
WantedBy=multi-user.target
`;
}
