//! The `allowedIps` rule: public IPv4/IPv6 addresses and CIDR ranges only.
//!
//! Rebilly says "private subnets are prohibited". A key restricted to a private, loopback or
//! otherwise non-routable address can never be used from the internet, and a range that
//! *contains* one (`0.0.0.0/0`, `10.0.0.0/7`) is rejected too. IPv6 forms that embed an IPv4
//! address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`,
//! 6to4 `2002::/16`) are checked against the IPv4 rules.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

/// What a valid entry may still deserve a word about.
pub(crate) type Verdict = Result<Option<String>, String>;

/// Checks one `allowedIps` entry: `Err` is a problem, `Ok(Some)` a warning.
pub(crate) fn check(entry: &str) -> Verdict {
    let net = Net::parse(entry)?;
    let rules = rules();
    let (table, bits) = match net.family {
        Family::V4 => (&rules.v4, 32),
        Family::V6 => (&rules.v6, 128),
    };
    if let Some(range) = table.iter().find(|range| range.net.overlaps(&net)) {
        let relation = if range.net.contains(&net) {
            "is in"
        } else {
            "contains"
        };
        let origin = match &range.embeds {
            Some(v4) => format!("{}, {} of {v4}", range.net, range.form),
            None => range.net.to_string(),
        };
        let rule = if range.kind == Kind::Private {
            "private subnets are prohibited"
        } else {
            "private and non-routable addresses are prohibited"
        };
        return Err(format!(
            "{entry} {relation} {} ({origin}); {rule}",
            range.kind.label()
        ));
    }
    if net.prefix < bits && net.addr != net.network() {
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
            "{entry} is in a documentation range ({doc}): no real client has this address"
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Private,
    Shared,
    Loopback,
    LinkLocal,
    ThisNetwork,
    Unspecified,
    Multicast,
    Reserved,
    UniqueLocal,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Private => "a private range",
            Kind::Shared => "the shared address space",
            Kind::Loopback => "the loopback range",
            Kind::LinkLocal => "the link-local range",
            Kind::ThisNetwork => "the \"this network\" range",
            Kind::Unspecified => "the unspecified range",
            Kind::Multicast => "a multicast range",
            Kind::Reserved => "a reserved range",
            Kind::UniqueLocal => "the unique-local range",
        }
    }
}

struct Range {
    net: Net,
    kind: Kind,
    /// For an IPv6 form of an IPv4 range: the IPv4 range, and which form this is.
    embeds: Option<Net>,
    form: &'static str,
}

struct Rules {
    v4: Vec<Range>,
    v6: Vec<Range>,
    documentation: Vec<Net>,
}

fn net(text: &str) -> Net {
    match Net::parse(text) {
        Ok(net) => net,
        // The tables below are constants; a typo in them is caught by every test.
        Err(why) => panic!("bad built-in range {text}: {why}"),
    }
}

fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| {
        // Private ranges first, so a range that contains several names a private one.
        let v4_table = [
            ("10.0.0.0/8", Kind::Private),
            ("172.16.0.0/12", Kind::Private),
            ("192.168.0.0/16", Kind::Private),
            ("100.64.0.0/10", Kind::Shared),
            ("127.0.0.0/8", Kind::Loopback),
            ("169.254.0.0/16", Kind::LinkLocal),
            ("0.0.0.0/8", Kind::ThisNetwork),
            ("224.0.0.0/4", Kind::Multicast),
            ("240.0.0.0/4", Kind::Reserved),
        ];
        let native = |table: &[(&str, Kind)]| -> Vec<Range> {
            table
                .iter()
                .map(|(text, kind)| Range {
                    net: net(text),
                    kind: *kind,
                    embeds: None,
                    form: "",
                })
                .collect()
        };
        let v4 = native(&v4_table);
        let mut v6 = native(&[
            ("fc00::/7", Kind::UniqueLocal),
            ("fe80::/10", Kind::LinkLocal),
            ("::1/128", Kind::Loopback),
            ("::/128", Kind::Unspecified),
            ("ff00::/8", Kind::Multicast),
        ]);
        // IPv6 forms that carry an IPv4 address: (prefix, its length, the bit after the IPv4
        // address's last bit).
        let embeddings = [
            ("::ffff:0:0", 96, 128, "the IPv4-mapped form"),
            ("::", 96, 128, "the IPv4-compatible form"),
            ("64:ff9b::", 96, 128, "the NAT64 form"),
            ("2002::", 16, 48, "the 6to4 form"),
        ];
        for (base, base_len, v4_end, form) in embeddings {
            let base = net(&format!("{base}/{base_len}")).addr;
            for range in &v4 {
                let shift = 128 - v4_end;
                v6.push(Range {
                    net: Net {
                        family: Family::V6,
                        addr: base | (range.net.addr << shift),
                        prefix: base_len + range.net.prefix,
                    },
                    kind: range.kind,
                    embeds: Some(range.net),
                    form,
                });
            }
        }
        let documentation = [
            "192.0.2.0/24",
            "198.51.100.0/24",
            "203.0.113.0/24",
            "2001:db8::/32",
        ]
        .iter()
        .map(|text| net(text))
        .collect();
        Rules {
            v4,
            v6,
            documentation,
        }
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
            "::ffff:8.8.8.8",
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
        let why = rejected("::ffff:10.0.0.8");
        assert!(why.contains("IPv4-mapped form of 10.0.0.0/8"), "{why}");
        assert!(rejected("::ffff:127.0.0.1").contains("loopback"));
        assert!(rejected("64:ff9b::c0a8:1").contains("NAT64"));
        assert!(rejected("2002:c0a8:0101::1").contains("6to4"));
        assert!(rejected("::ffff:0:0/95").contains("contains"));
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
        ] {
            rejected(bad);
        }
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
    }
}
