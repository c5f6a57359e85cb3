// The `skiff` command: one binary. Each side owns its subcommands (controlplane/cli, agent/cli);
// this entry only dispatches, loading the side a command needs.
import { fail } from '../controlplane/shared/cli.ts';

const USAGE = `usage: skiff <command> [flags]

commands:
  server       run the control plane (API server on the embedded store or etcd)
  up           server and agent together on this host (a VM or a machine dedicated to Skiff)
  agent        run a node: join a server, run containerd, register the Node (--uninstall: remove it)
  reset        stop Skiff and remove what it changed on this host (--keep-data keeps the data dirs)
  install      server | agent [--no-start] -- FLAGS: a systemd unit running skiff server|agent FLAGS
  token        print the join token of a server's data dir
  kubeconfig   print the admin kubeconfig of a server's data dir
  image        import FILE | ls: images for every node, served by the server's registry
  sandbox      up | down | kubectl | exec | list: a multi-node cluster in network namespaces
  help         show this text
`;

const [cmd, ...rest] = process.argv.slice(2);
switch (cmd) {
  case 'server':
  case 'up':
  case 'token':
  case 'kubeconfig':
  case 'reset':
  case 'image': {
    const c = await import('../controlplane/cli/commands.ts');
    const run = {
      server: c.server,
      up: c.up,
      token: c.token,
      kubeconfig: c.printKubeconfig,
      image: c.image,
      reset: c.reset,
    }[cmd];
    await run(rest);
    break;
  }
  case 'agent':
  case 'install':
  case 'sandbox': {
    const a = await import('../agent/cli/commands.ts');
    await { agent: a.agent, install: a.install, sandbox: a.sandbox }[cmd](rest);
    break;
  }
  case 'help':
  case '--help':
  case '-h':
  case undefined:
    process.stdout.write(USAGE);
    break;
  default:
    fail(`unknown command "${cmd}"\n${USAGE}`);
}
