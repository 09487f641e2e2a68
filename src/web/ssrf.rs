//! The SSRF guard: a fetched URL (or any redirect it leads to) must not reach the user's own
//! machine or network unless they said so with `--allow-private`, and never the link-local
//! range where cloud metadata services live.
//!
//! Two places apply the rule: [`check_host`] for hosts written as IP literals (no DNS lookup
//! happens for those), and [`GuardedResolver`], the HTTP client's DNS resolver, which drops
//! refused addresses from every lookup, so a name cannot be re-pointed between the check and the
//! connection (DNS rebinding).

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// What kind of address an IP is, as far as the guard cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrClass {
    Public,
    /// 127.0.0.0/8, ::1
    Loopback,
    /// 10/8, 172.16/12, 192.168/16, 100.64/10 (carrier-grade NAT), 198.18/15, fc00::/7
    Private,
    /// 169.254/16, fe80::/10: where cloud metadata endpoints answer.
    LinkLocal,
    /// A known cloud metadata address outside the link-local range (fd00:ec2::254,
    /// 100.100.100.200).
    Metadata,
    Multicast,
    /// 0.0.0.0/8, ::
    Unspecified,
    /// 255.255.255.255, 240/4, documentation ranges and other never-routed blocks.
    Reserved,
}

impl AddrClass {
    pub fn describe(self) -> &'static str {
        match self {
            AddrClass::Public => "public",
            AddrClass::Loopback => "loopback",
            AddrClass::Private => "private-network",
            AddrClass::LinkLocal => "link-local (cloud metadata range)",
            AddrClass::Metadata => "cloud metadata",
            AddrClass::Multicast => "multicast",
            AddrClass::Unspecified => "unspecified",
            AddrClass::Reserved => "reserved",
        }
    }

    /// Whether a fetch may connect to an address of this class. `--allow-private` opens
    /// loopback and private networks (a local test server, an intranet wiki); link-local,
    /// metadata, multicast, unspecified and reserved addresses stay refused regardless.
    pub fn allowed(self, allow_private: bool) -> bool {
        match self {
            AddrClass::Public => true,
            AddrClass::Loopback | AddrClass::Private => allow_private,
            AddrClass::LinkLocal
            | AddrClass::Metadata
            | AddrClass::Multicast
            | AddrClass::Unspecified
            | AddrClass::Reserved => false,
        }
    }
}

/// Classify an address. IPv4 embedded in IPv6 (mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d`,
/// NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) is classified as the IPv4 address it carries.
pub fn classify(ip: IpAddr) -> AddrClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddrClass {
    let o = ip.octets();
    if ip == Ipv4Addr::new(100, 100, 100, 200) {
        return AddrClass::Metadata;
    }
    if o[0] == 0 {
        return AddrClass::Unspecified;
    }
    if o[0] == 127 {
        return AddrClass::Loopback;
    }
    if o[0] == 169 && o[1] == 254 {
        return AddrClass::LinkLocal;
    }
    if o[0] == 10
        || (o[0] == 172 && (16..=31).contains(&o[1]))
        || (o[0] == 192 && o[1] == 168)
        || (o[0] == 100 && (64..=127).contains(&o[1]))
        || (o[0] == 198 && (o[1] == 18 || o[1] == 19))
    {
        return AddrClass::Private;
    }
    if (224..=239).contains(&o[0]) {
        return AddrClass::Multicast;
    }
    if o[0] >= 240
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        || (o[0] == 192 && o[1] == 0 && o[2] == 2)
        || (o[0] == 198 && o[1] == 51 && o[2] == 100)
        || (o[0] == 203 && o[1] == 0 && o[2] == 113)
    {
        return AddrClass::Reserved;
    }
    AddrClass::Public
}

fn classify_v6(ip: Ipv6Addr) -> AddrClass {
    let s = ip.segments();
    if ip.is_unspecified() {
        return AddrClass::Unspecified;
    }
    if ip.is_loopback() {
        return AddrClass::Loopback;
    }
    // fd00:ec2::254, the AWS metadata endpoint over IPv6, sits inside the ULA range.
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        return AddrClass::Metadata;
    }
    // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (deprecated compatible form).
    if s[0..5] == [0, 0, 0, 0, 0] && (s[5] == 0xffff || s[5] == 0) {
        return classify_v4(embedded_v4(s[6], s[7]));
    }
    // 64:ff9b::/96 NAT64.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return classify_v4(embedded_v4(s[6], s[7]));
    }
    // 2002::/16 6to4 carries an IPv4 address in its next 32 bits.
    if s[0] == 0x2002 {
        return classify_v4(embedded_v4(s[1], s[2]));
    }
    if s[0] & 0xffc0 == 0xfe80 {
        return AddrClass::LinkLocal;
    }
    if s[0] & 0xfe00 == 0xfc00 {
        return AddrClass::Private;
    }
    // fec0::/10, the deprecated site-local range.
    if s[0] & 0xffc0 == 0xfec0 {
        return AddrClass::Private;
    }
    if s[0] & 0xff00 == 0xff00 {
        return AddrClass::Multicast;
    }
    // 2001:db8::/32 documentation, 100::/64 discard.
    if (s[0] == 0x2001 && s[1] == 0x0db8) || (s[0] == 0x100 && s[1..4] == [0, 0, 0]) {
        return AddrClass::Reserved;
    }
    AddrClass::Public
}

fn embedded_v4(hi: u16, lo: u16) -> Ipv4Addr {
    Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8)
}

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub host: String,
    pub ip: IpAddr,
    pub class: AddrClass,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        if host.parse::<IpAddr>().ok() == Some(self.ip) {
            write!(f, "{} is a {} address", self.ip, self.class.describe())
        } else {
            write!(
                f,
                "{} resolves to {}, a {} address",
                self.host,
                self.ip,
                self.class.describe()
            )
        }
    }
}

impl std::error::Error for Refused {}

/// Check a URL host that is an IP literal; `Ok` for names (the resolver checks those).
pub fn check_host(host: &url::Host<&str>, allow_private: bool) -> Result<(), Refused> {
    let ip = match host {
        url::Host::Domain(_) => return Ok(()),
        url::Host::Ipv4(v4) => IpAddr::V4(*v4),
        url::Host::Ipv6(v6) => IpAddr::V6(*v6),
    };
    check_ip(&host.to_string(), ip, allow_private)
}

pub fn check_ip(host: &str, ip: IpAddr, allow_private: bool) -> Result<(), Refused> {
    let class = classify(ip);
    if class.allowed(allow_private) {
        Ok(())
    } else {
        Err(Refused {
            host: host.to_string(),
            ip,
            class,
        })
    }
}

/// The fetcher's DNS resolver: the system resolver, with refused addresses removed. A name with
/// no address left fails with [`Refused`] (found again in the error's source chain).
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        let allow_private = self.allow_private;
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let mut kept = Vec::with_capacity(found.len());
            for addr in found {
                match check_ip(&host, addr.ip(), allow_private) {
                    Ok(()) => kept.push(addr),
                    Err(r) => refused = Some(r),
                }
            }
            if kept.is_empty() {
                if let Some(r) = refused {
                    return Err(Box::new(r) as Box<dyn std::error::Error + Send + Sync>);
                }
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

/// The [`Refused`] somewhere in an error's source chain, if the guard caused it.
pub fn find_refusal(err: &(dyn std::error::Error + 'static)) -> Option<Refused> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(r) = e.downcast_ref::<Refused>() {
            return Some(r.clone());
        }
        cur = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> AddrClass {
        classify(s.parse().unwrap())
    }

    #[test]
    fn classifies_ipv4() {
        assert_eq!(c("8.8.8.8"), AddrClass::Public);
        assert_eq!(c("127.0.0.1"), AddrClass::Loopback);
        assert_eq!(c("127.255.0.9"), AddrClass::Loopback);
        assert_eq!(c("10.1.2.3"), AddrClass::Private);
        assert_eq!(c("172.16.0.1"), AddrClass::Private);
        assert_eq!(c("172.31.255.255"), AddrClass::Private);
        assert_eq!(c("172.32.0.1"), AddrClass::Public);
        assert_eq!(c("192.168.1.1"), AddrClass::Private);
        assert_eq!(c("100.64.0.1"), AddrClass::Private);
        assert_eq!(c("169.254.169.254"), AddrClass::LinkLocal);
        assert_eq!(c("100.100.100.200"), AddrClass::Metadata);
        assert_eq!(c("224.0.0.1"), AddrClass::Multicast);
        assert_eq!(c("0.0.0.0"), AddrClass::Unspecified);
        assert_eq!(c("255.255.255.255"), AddrClass::Reserved);
        assert_eq!(c("192.0.2.10"), AddrClass::Reserved);
    }

    #[test]
    fn classifies_ipv6_and_embedded_ipv4() {
        assert_eq!(c("::1"), AddrClass::Loopback);
        assert_eq!(c("::"), AddrClass::Unspecified);
        assert_eq!(c("fc00::1"), AddrClass::Private);
        assert_eq!(c("fdff:ffff::1"), AddrClass::Private);
        assert_eq!(c("fe80::1"), AddrClass::LinkLocal);
        assert_eq!(c("febf::1"), AddrClass::LinkLocal);
        assert_eq!(c("ff02::1"), AddrClass::Multicast);
        assert_eq!(c("fd00:ec2::254"), AddrClass::Metadata);
        assert_eq!(c("2606:4700::1111"), AddrClass::Public);
        assert_eq!(c("2001:db8::1"), AddrClass::Reserved);
        // IPv4-mapped and friends carry the IPv4 address's class.
        assert_eq!(c("::ffff:127.0.0.1"), AddrClass::Loopback);
        assert_eq!(c("::ffff:169.254.169.254"), AddrClass::LinkLocal);
        assert_eq!(c("::ffff:10.0.0.1"), AddrClass::Private);
        assert_eq!(c("::ffff:8.8.8.8"), AddrClass::Public);
        assert_eq!(c("64:ff9b::a9fe:a9fe"), AddrClass::LinkLocal);
        assert_eq!(c("2002:7f00:1::"), AddrClass::Loopback);
    }

    #[test]
    fn allow_private_opens_loopback_and_private_only() {
        for (ip, without, with) in [
            ("127.0.0.1", false, true),
            ("10.0.0.1", false, true),
            ("fc00::1", false, true),
            ("169.254.169.254", false, false),
            ("fe80::1", false, false),
            ("fd00:ec2::254", false, false),
            ("0.0.0.0", false, false),
            ("239.1.1.1", false, false),
            ("93.184.216.34", true, true),
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(check_ip("h", ip, false).is_ok(), without, "{ip}");
            assert_eq!(check_ip("h", ip, true).is_ok(), with, "{ip}");
        }
    }

    #[test]
    fn ip_literal_hosts_are_checked_without_dns() {
        let url = url::Url::parse("http://169.254.169.254/latest/meta-data/").unwrap();
        let err = check_host(&url.host().unwrap(), true).unwrap_err();
        assert_eq!(err.class, AddrClass::LinkLocal);
        assert_eq!(
            err.to_string(),
            "169.254.169.254 is a link-local (cloud metadata range) address"
        );
        let url = url::Url::parse("http://[::1]:8080/").unwrap();
        assert!(check_host(&url.host().unwrap(), false).is_err());
        assert!(check_host(&url.host().unwrap(), true).is_ok());
        let url = url::Url::parse("http://example.org/").unwrap();
        assert!(check_host(&url.host().unwrap(), false).is_ok());
    }

    #[tokio::test]
    async fn resolver_drops_refused_addresses() {
        let r = GuardedResolver {
            allow_private: false,
        };
        let err = match r.resolve("localhost".parse().unwrap()).await {
            Ok(_) => panic!("localhost must be refused"),
            Err(e) => e,
        };
        let refused = find_refusal(err.as_ref()).expect("a Refused in the chain");
        assert_eq!(refused.class, AddrClass::Loopback);
        let ok = GuardedResolver {
            allow_private: true,
        };
        let addrs: Vec<SocketAddr> = match ok.resolve("localhost".parse().unwrap()).await {
            Ok(a) => a.collect(),
            Err(e) => panic!("{e}"),
        };
        assert!(addrs.iter().all(|a| a.ip().is_loopback()));
    }
}
