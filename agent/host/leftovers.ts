// Pure choices for an uninstall: which nft tables and which links on this host are Skiff's.
// Only names Skiff gives (tables `skiff-*` in families ip/inet; links skiff0, skiff.N,
// skiff-*; veths enslaved to a Skiff bridge) are chosen, so another product's state stays.

export interface NftTable {
  family: string;
  name: string;
}

/** Tables from `nft -j list tables` that Skiff owns. */
export function skiffTables(nftJson: string): NftTable[] {
  if (!nftJson.trim()) return [];
  const parsed = JSON.parse(nftJson) as { nftables?: { table?: NftTable }[] };
  return (parsed.nftables ?? [])
    .map((e) => e.table)
    .filter((t): t is NftTable => !!t && (t.family === 'ip' || t.family === 'inet') && /^skiff-/.test(t.name));
}

export interface IpLink {
  ifname: string;
  master?: string;
  link_info?: { info_kind?: string };
}

const OWN = /^(skiff0|skiff\.\d+|skiff-[\w.-]+)$/;

/** Links from `ip -j -d link show` to delete: pod veths first (on a Skiff bridge), then Skiff's own devices. */
export function skiffLinks(ipJson: string): string[] {
  const links = (ipJson.trim() ? JSON.parse(ipJson) : []) as IpLink[];
  const own = links.filter((l) => OWN.test(l.ifname)).map((l) => l.ifname);
  const veths = links
    .filter((l) => l.master && OWN.test(l.master) && l.link_info?.info_kind === 'veth' && !OWN.test(l.ifname))
    .map((l) => l.ifname);
  return [...veths, ...own];
}
