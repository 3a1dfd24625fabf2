//! MQTT broker addresses as configs write them: `mqtt://host[:port]` (1883 by default) and
//! `mqtts://host[:port]` (TLS, 8883).

/// A parsed broker address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    /// `mqtts://`.
    pub tls: bool,
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
}

/// An address that is not `mqtt[s]://host[:port]` (the URL is shown without any password).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "mqtt url {0:?}: expected mqtt://host:port or mqtts://host:port (an IPv6 host in brackets; a login goes in mqtt.username and mqtt.password_file, not in the URL)"
)]
pub struct BadBrokerUrl(pub String);

impl BrokerUrl {
    /// Parses `mqtt[s]://host[:port]`.
    pub fn parse(url: &str) -> Result<Self, BadBrokerUrl> {
        let bad = || BadBrokerUrl(crate::redact::url(url));
        let (tls, rest) = if let Some(r) = url.strip_prefix("mqtts://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("mqtt://") {
            (false, r)
        } else {
            return Err(bad());
        };
        let rest = rest.trim_end_matches('/');
        let default_port = if tls { 8883 } else { 1883 };
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            // `[::1]` or `[::1]:1883`.
            let (h, after) = v6.split_once(']').ok_or_else(bad)?;
            if h.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad());
            }
            match after {
                "" => (h, default_port),
                p => (
                    h,
                    p.strip_prefix(':')
                        .ok_or_else(bad)?
                        .parse()
                        .map_err(|_| bad())?,
                ),
            }
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h, p.parse().map_err(|_| bad())?),
                None => (rest, default_port),
            }
        };
        // A host name or an IPv4 address: letters, digits, '-', '.', '_' (no login, path or
        // query: a password in the URL would reach logs).
        let name_ok = host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':'));
        if host.is_empty() || !name_ok || port == 0 {
            return Err(bad());
        }
        Ok(Self {
            tls,
            host: host.to_string(),
            port,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_default_ports() {
        let u = |tls, host: &str, port| BrokerUrl {
            tls,
            host: host.into(),
            port,
        };
        assert_eq!(
            BrokerUrl::parse("mqtt://broker"),
            Ok(u(false, "broker", 1883))
        );
        assert_eq!(
            BrokerUrl::parse("mqtts://broker:9000/"),
            Ok(u(true, "broker", 9000))
        );
        assert!(BrokerUrl::parse("tcp://x:1").is_err());
        assert!(BrokerUrl::parse("mqtt://:1").is_err());
        assert!(BrokerUrl::parse("mqtt://x:port").is_err());
        assert_eq!(
            BrokerUrl::parse("mqtt://[::1]:1884"),
            Ok(u(false, "::1", 1884))
        );
        assert_eq!(BrokerUrl::parse("mqtts://[::1]"), Ok(u(true, "::1", 8883)));
        for bad in [
            "mqtt://[::1",
            "mqtt://[nope]:1",
            "mqtt://x:0",
            "mqtt://a b:1",
            "mqtt://x/y:1",
        ] {
            assert!(BrokerUrl::parse(bad).is_err(), "{bad}");
        }
        // A login in the URL is refused, and the error does not show the password.
        let e = BrokerUrl::parse("mqtt://u:s3cret@127.0.0.1:1883").unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }
}
