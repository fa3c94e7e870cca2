//! The `allowedIps` rule against an independent implementation: Python's `ipaddress`
//! (`is_global`). Every address Python calls not globally reachable must be refused (or, for
//! documentation ranges, warned about); where the project is stricter, it is because a row of
//! `schemas/special-purpose-addresses.tsv` says so, and the count is printed.
//!
//! Addresses: both ends of every range Python knows as special and of every row of the table,
//! and their neighbours outside them, plus a fixed-seed sample of IPv4 and IPv6 space (so a
//! row missing from the table is found from Python's side). Skipped, saying why, where
//! `python3` is missing.

use crate::support::{Seed, root};
use apikey_task::{Endpoint, Step};
use serde_json::json;
use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::{Command, Stdio};

/// The first and last address of a range, and the addresses just outside it.
fn around(range: &str) -> Vec<String> {
    let Some((address, prefix)) = range.split_once('/') else {
        return Vec::new();
    };
    let prefix: u32 = prefix.parse().unwrap_or(0);
    let mut out = Vec::new();
    if let Ok(v4) = address.parse::<Ipv4Addr>() {
        let first = u32::from(v4);
        let last = first | u32::MAX.checked_shr(prefix).unwrap_or(0);
        for edge in [
            first.checked_sub(1),
            Some(first),
            Some(last),
            last.checked_add(1),
        ] {
            out.extend(edge.map(|a| Ipv4Addr::from(a).to_string()));
        }
    } else if let Ok(v6) = address.parse::<Ipv6Addr>() {
        let first = u128::from(v6);
        let last = first | u128::MAX.checked_shr(prefix).unwrap_or(0);
        for edge in [
            first.checked_sub(1),
            Some(first),
            Some(last),
            last.checked_add(1),
        ] {
            out.extend(edge.map(|a| Ipv6Addr::from(a).to_string()));
        }
    }
    out
}

fn addresses(python_ranges: &[String], per_family: usize) -> Vec<String> {
    let table = std::fs::read_to_string(root().join("schemas/special-purpose-addresses.tsv"))
        .expect("the table");
    let mut out: Vec<String> = table
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| line.split('\t').next())
        .chain(python_ranges.iter().map(String::as_str))
        .flat_map(around)
        .collect();
    let mut sample = Seed(20_261_126);
    for _ in 0..per_family {
        out.push(Ipv4Addr::from(sample.next() as u32).to_string());
        // Half anywhere, half in the global unicast space 2000::/3 where most clients are.
        let high = u128::from(sample.next()) << 64 | u128::from(sample.next());
        let v6 = if sample.next().is_multiple_of(2) {
            high
        } else {
            (high >> 3) | (0b001u128 << 125)
        };
        out.push(Ipv6Addr::from(v6).to_string());
    }
    out
}

/// The special ranges Python's `ipaddress` knows (its private, reserved, multicast, ...
/// constants), or `None` without `python3`.
fn python_ranges() -> Option<Vec<String>> {
    let script = "import ipaddress\n\
                  for constants in (ipaddress._IPv4Constants, ipaddress._IPv6Constants):\n\
                  \x20   for value in vars(constants).values():\n\
                  \x20       for net in value if isinstance(value, list) else [value]:\n\
                  \x20           if isinstance(net, (ipaddress.IPv4Network, ipaddress.IPv6Network)):\n\
                  \x20               print(net)\n";
    let output = Command::new("python3").args(["-c", script]).output().ok()?;
    assert!(
        output.status.success(),
        "python3: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let ranges: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(
        ranges.len() > 20,
        "Python knows more special ranges than {ranges:?}"
    );
    Some(ranges)
}

/// Python's verdict for each address: `is_global`.
fn python_is_global(addresses: &[String]) -> Option<Vec<bool>> {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import ipaddress, sys\nfor line in sys.stdin:\n    print(int(ipaddress.ip_address(line.strip()).is_global))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    let mut input = child.stdin.take()?;
    let text = addresses.join("\n") + "\n";
    let writer = std::thread::spawn(move || input.write_all(text.as_bytes()));
    let output = child.wait_with_output().ok()?;
    writer.join().ok()?.ok()?;
    assert!(output.status.success(), "python3 failed");
    let verdicts: Vec<bool> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| line.trim() == "1")
        .collect();
    assert_eq!(verdicts.len(), addresses.len(), "one verdict per address");
    Some(verdicts)
}

#[derive(Debug, PartialEq)]
enum Ours {
    Refused,
    Documentation,
    Accepted,
}

fn ours(endpoint: &Endpoint, address: &str) -> Ours {
    let step: Step = serde_json::from_value(json!({
        "parameters": {
            "organizationId": "org-1",
            "body": { "description": "d", "allowedIps": [address] }
        }
    }))
    .expect("step");
    let report = endpoint.test_request(step, None);
    if report.errors.iter().any(|e| e.path == "/body/allowedIps/0") {
        Ours::Refused
    } else if report
        .warnings
        .iter()
        .any(|w| w.message.contains("documentation range"))
    {
        Ours::Documentation
    } else {
        Ours::Accepted
    }
}

#[test]
fn nothing_python_calls_non_global_is_accepted() {
    let size = std::env::var("APIKEY_ADDRESS_SAMPLE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let Some(python_ranges) = python_ranges() else {
        eprintln!("skipped: python3 is not available to compare with");
        return;
    };
    let addresses = addresses(&python_ranges, size);
    let global = python_is_global(&addresses).expect("python3 answered before");
    let endpoint = Endpoint::builder().build().expect("endpoint");
    let mut accepted_but_not_global = Vec::new();
    let mut stricter = 0;
    for (address, global) in addresses.iter().zip(global) {
        match (ours(&endpoint, address), global) {
            (Ours::Accepted, false) => accepted_but_not_global.push(address.clone()),
            (Ours::Refused, true) => stricter += 1,
            _ => {}
        }
    }
    eprintln!(
        "{} addresses compared with Python's ipaddress: {stricter} refused that it calls global (rows of the table it does not know)",
        addresses.len()
    );
    assert!(addresses.len() >= 2 * size, "too few addresses");
    assert!(
        accepted_but_not_global.is_empty(),
        "accepted, though not globally reachable: {accepted_but_not_global:?}"
    );
}
