//! The `allowedIps` rule: globally reachable IPv4/IPv6 addresses and CIDR ranges only.
//!
//! Rebilly says "private subnets are prohibited". A key restricted to an address that is not
//! globally reachable can never be used from the internet, and a range that *contains* one
//! (`0.0.0.0/0`, `10.0.0.0/7`) is rejected too. Which ranges those are is data:
//! `schemas/special-purpose-addresses.tsv`, each row naming its IANA registry entry. IPv6
//! forms that carry an IPv4 address (NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are checked
//! against the IPv4 rows.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

/// What a valid entry may still deserve a word about.
pub(crate) type Verdict = Result<Option<String>, String>;

/// Checks one `allowedIps` entry: `Err` is a problem, `Ok(Some)` a warning.
pub(crate) fn check(entry: &str) -> Verdict {
    let net = Net::parse(entry)?;
    let rules = rules();
    let relation = |range: &Net| {
        if range.contains(&net) {
            "is in"
        } else {
            "contains"
        }
    };
    if let Some(range) = rules
        .refused(net.family)
        .find(|range| range.net.overlaps(&net))
    {
        let origin = match &range.embeds {
            Some(v4) => format!("{}, {} of {v4}", range.net, range.label),
            None => range.net.to_string(),
        };
        let rule = if range.private {
            "private subnets are prohibited"
        } else {
            "private and non-routable addresses are prohibited"
        };
        return Err(format!(
            "{entry} {} {} ({origin}); {rule}",
            relation(&range.net),
            range.kind_label
        ));
    }
    if net.prefix < net.bits() && net.addr != net.network() {
        return Ok(Some(format!(
            "{entry} has host bits set: the range it names is {}",
            Net {
                addr: net.network(),
                ..net
            }
        )));
    }
    if let Some(doc) = rules.documentation.iter().find(|d| d.overlaps(&net)) {
        return Ok(Some(format!(
            "{entry} {} a documentation range ({doc}): no real client has this address",
            relation(doc)
        )));
    }
    Ok(None)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

/// An address with a prefix length; a single address has the full length. Addresses are kept
/// as `u128` for both families, with `family` saying how many bits count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Net {
    family: Family,
    addr: u128,
    prefix: u32,
}

impl Net {
    fn parse(text: &str) -> Result<Net, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let ip: IpAddr = address.parse().map_err(|_| {
            format!("{text:?} is not an IPv4 or IPv6 address or CIDR range (e.g. 153.12.32.33, 201.54.122.0/24, 2001:db8::/32)")
        })?;
        let (family, addr, bits) = match ip {
            IpAddr::V4(v4) => (Family::V4, u128::from(u32::from(v4)), 32),
            IpAddr::V6(v6) => (Family::V6, u128::from(v6), 128),
        };
        let prefix = match prefix {
            None => bits,
            // `/08` is not `/8`: some parsers read a leading zero as octal, so none is guessed.
            Some(p) if p.len() > 1 && p.starts_with('0') => {
                return Err(format!(
                    "{text:?}: prefix length {p:?} has a leading zero; write /{}",
                    p.trim_start_matches('0')
                ));
            }
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                let p: u32 = p
                    .parse()
                    .map_err(|_| format!("{text:?}: bad prefix length"))?;
                if p > bits {
                    return Err(format!(
                        "{text:?}: prefix length /{p} is longer than the address ({bits} bits)"
                    ));
                }
                p
            }
            Some(p) => {
                return Err(format!(
                    "{text:?}: prefix length {p:?} is not a number from 0 to {bits}"
                ));
            }
        };
        Ok(Net {
            family,
            addr,
            prefix,
        })
    }

    fn bits(&self) -> u32 {
        match self.family {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }

    /// The bits of `addr` that lie outside the first `prefix` bits, cleared.
    fn masked(addr: u128, prefix: u32, bits: u32) -> u128 {
        let host = bits - prefix;
        if host >= 128 {
            0
        } else {
            (addr >> host) << host
        }
    }

    fn network(&self) -> u128 {
        Net::masked(self.addr, self.prefix, self.bits())
    }

    fn overlaps(&self, other: &Net) -> bool {
        let shared = self.prefix.min(other.prefix);
        self.family == other.family
            && Net::masked(self.addr, shared, self.bits())
                == Net::masked(other.addr, shared, self.bits())
    }

    fn contains(&self, other: &Net) -> bool {
        self.overlaps(other) && self.prefix <= other.prefix
    }
}

impl std::fmt::Display for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.family {
            // Truncation is exact: a V4 net only ever holds 32 bits.
            Family::V4 => write!(f, "{}/{}", Ipv4Addr::from(self.addr as u32), self.prefix),
            Family::V6 => write!(f, "{}/{}", Ipv6Addr::from(self.addr), self.prefix),
        }
    }
}

/// The table, as shipped: see the file's header for its columns.
pub(crate) const SPECIAL_PURPOSE_ADDRESSES: &str =
    include_str!("../../schemas/special-purpose-addresses.tsv");

/// A range that `allowedIps` refuses.
struct Refused {
    net: Net,
    /// "a private range", "the loopback range", ...
    kind_label: String,
    /// Private-use, which the API's own rule names.
    private: bool,
    /// For an IPv6 form of an IPv4 range: the IPv4 range, and `label` names the form.
    embeds: Option<Net>,
    label: String,
}

struct Rules {
    v4: Vec<Refused>,
    v6: Vec<Refused>,
    documentation: Vec<Net>,
}

impl Rules {
    fn refused(&self, family: Family) -> std::slice::Iter<'_, Refused> {
        match family {
            Family::V4 => self.v4.iter(),
            Family::V6 => self.v6.iter(),
        }
    }
}

/// Parses the table. `Err` names the line and what is wrong with it.
fn parse_rules(table: &str) -> Result<Rules, String> {
    let mut rules = Rules {
        v4: Vec::new(),
        v6: Vec::new(),
        documentation: Vec::new(),
    };
    // (prefix of the IPv6 form, its label), applied to the IPv4 rows once all are read.
    let mut embeddings: Vec<(Net, String)> = Vec::new();
    for (index, line) in table.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: &str| format!("line {}: {why}: {line:?}", index + 1);
        let columns: Vec<&str> = line.split('\t').collect();
        let [range, verdict, label, source] = columns[..] else {
            return Err(bad("expected four tab-separated columns"));
        };
        if source.trim().is_empty() || label.trim().is_empty() {
            return Err(bad("every row names its label and its registry entry"));
        }
        let net = Net::parse(range).map_err(|why| bad(&why))?;
        if net.addr != net.network() {
            return Err(bad("the range has host bits set"));
        }
        let refused = |private: bool| Refused {
            net,
            kind_label: label.to_owned(),
            private,
            embeds: None,
            label: String::new(),
        };
        let table = match net.family {
            Family::V4 => &mut rules.v4,
            Family::V6 => &mut rules.v6,
        };
        match verdict {
            "private" => table.push(refused(true)),
            "reject" => table.push(refused(false)),
            "documentation" => rules.documentation.push(net),
            "embeds-ipv4" if net.family == Family::V6 && net.prefix <= 96 => {
                embeddings.push((net, label.to_owned()));
            }
            _ => return Err(bad("unknown verdict, or an IPv4 form that is not IPv6")),
        }
    }
    let mut derived = Vec::new();
    for (form, label) in &embeddings {
        // The IPv4 address occupies the 32 bits right after the form's prefix.
        let shift = 128 - (form.prefix + 32);
        for v4 in &rules.v4 {
            derived.push(Refused {
                net: Net {
                    family: Family::V6,
                    addr: form.addr | (v4.net.addr << shift),
                    prefix: form.prefix + v4.net.prefix,
                },
                kind_label: v4.kind_label.clone(),
                private: v4.private,
                embeds: Some(v4.net),
                label: label.clone(),
            });
        }
    }
    rules.v6.extend(derived);
    Ok(rules)
}

fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| match parse_rules(SPECIAL_PURPOSE_ADDRESSES) {
        Ok(rules) => rules,
        // A file compiled into the binary; a unit test parses it on every run.
        Err(why) => panic!("schemas/special-purpose-addresses.tsv: {why}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(entry: &str) -> String {
        match check(entry) {
            Err(why) => why,
            Ok(w) => panic!("{entry} was accepted ({w:?})"),
        }
    }

    #[test]
    fn public_addresses_and_ranges_pass() {
        for ok in [
            "153.12.32.33",
            "201.54.122.0/24",
            "8.8.8.8/32",
            "2001:0db8:abcd:0012:0000:0000:0000:ffff",
            "2001:db8:abcd:12::0/64",
            "2606:4700::/32",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "192.0.1.1",
            "100.128.0.1",
            "172.32.0.1",
        ] {
            assert!(check(ok).is_ok(), "{ok}: {:?}", check(ok));
        }
    }

    #[test]
    fn every_private_family_is_rejected() {
        assert_eq!(
            rejected("10.0.0.8"),
            "10.0.0.8 is in a private range (10.0.0.0/8); private subnets are prohibited"
        );
        for bad in [
            "172.16.5.4",
            "192.168.1.1/24",
            "127.0.0.1",
            "169.254.1.1",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fd00::1",
            "fe80::1",
            "ff02::1",
        ] {
            rejected(bad);
        }
    }

    #[test]
    fn ranges_containing_private_ones_are_rejected() {
        assert!(rejected("0.0.0.0/0").contains("contains a private range (10.0.0.0/8)"));
        assert!(rejected("10.0.0.0/7").contains("contains a private range (10.0.0.0/8)"));
        assert!(rejected("::/0").contains("contains"));
        assert!(rejected("fc00::/6").contains("unique-local"));
    }

    #[test]
    fn embedded_ipv4_forms_are_checked() {
        let why = rejected("64:ff9b::c0a8:1");
        assert!(why.contains("NAT64 form of 192.168.0.0/16"), "{why}");
        assert!(why.contains("private subnets are prohibited"), "{why}");
        assert!(rejected("2002:c0a8:0101::1").contains("6to4"));
        assert!(rejected("2002:7f00:1::/48").contains("loopback"));
        // The IPv4-mapped, -compatible and -translated forms are not globally reachable at
        // all: write the IPv4 address itself.
        let why = rejected("::ffff:8.8.8.8");
        assert!(
            why.contains("is in the IPv4-mapped range (::ffff:0.0.0.0/96)"),
            "{why}"
        );
        assert!(rejected("::ffff:0:8.8.8.8").contains("IPv4-translated"));
        assert!(rejected("::8.8.8.8").contains("IPv4-compatible"));
        assert!(rejected("::ffff:0:0/95").contains("contains"));
    }

    #[test]
    fn every_registry_block_that_is_not_globally_reachable_is_rejected() {
        for (entry, named) in [
            ("198.18.0.1", "benchmarking"),
            ("198.19.255.255", "benchmarking"),
            ("192.0.0.9", "IETF protocol assignments"),
            ("192.0.0.170", "IETF protocol assignments"),
            ("192.88.99.1", "6to4 relay"),
            ("2001::1", "Teredo"),
            ("2001:2::1", "benchmarking"),
            ("2001:1::1", "IETF protocol assignments"),
            ("2001:30::1", "IETF protocol assignments"),
            ("64:ff9b:1::1", "local-use NAT64"),
            ("100::1", "discard-only"),
            ("100:0:0:1::1", "dummy"),
            ("5f00::1", "segment routing"),
            ("fec0::1", "site-local"),
        ] {
            let why = rejected(entry);
            assert!(why.contains(named), "{entry}: {why}");
        }
    }

    #[test]
    fn the_shipped_table_parses_and_bad_rows_are_named() {
        let rules = parse_rules(SPECIAL_PURPOSE_ADDRESSES).expect("the shipped table");
        assert!(rules.v4.len() >= 12 && rules.documentation.len() == 5);
        for (row, why) in [
            (
                "10.0.0.0/8\tprivate\ta private range",
                "four tab-separated columns",
            ),
            ("10.0.0.1/8\tprivate\tx\tsource", "host bits"),
            ("10.0.0.0/8\tmaybe\tx\tsource", "unknown verdict"),
            ("10.0.0.0/8\treject\tx\t ", "registry entry"),
            ("nonsense\treject\tx\tsource", "not an IPv4 or IPv6 address"),
        ] {
            let error = parse_rules(row).err().unwrap_or_default();
            assert!(
                error.contains("line 1") && error.contains(why),
                "{row}: {error}"
            );
        }
    }

    #[test]
    fn garbage_is_rejected_clearly() {
        for bad in [
            "",
            "localhost",
            "1.2.3",
            "1.2.3.4/33",
            "1.2.3.4/",
            "1.2.3.4/-1",
            "::1/129",
            "fe80::1%eth0",
            "010.0.0.1",
            "1.2.3.4/08",
            "2001:db8::/032",
        ] {
            rejected(bad);
        }
        assert!(rejected("1.2.3.4/08").contains("leading zero; write /8"));
    }

    #[test]
    fn warnings_for_documentation_and_host_bits() {
        assert!(
            check("2001:db8::/32")
                .unwrap_or_default()
                .is_some_and(|w| w.contains("documentation"))
        );
        assert!(
            check("201.54.122.7/24")
                .unwrap_or_default()
                .is_some_and(|w| w.contains("201.54.122.0/24"))
        );
        let warning = |entry: &str| check(entry).unwrap_or_default().unwrap_or_default();
        assert!(warning("3fff::1").contains("is in a documentation range (3fff::/20)"));
        assert!(warning("2001:db8::/31").contains("contains a documentation range"));
        assert!(warning("192.0.2.0/23").contains("contains a documentation range"));
    }
}
