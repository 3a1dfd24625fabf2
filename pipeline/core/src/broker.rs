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

/// An address that is not `mqtt[s]://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mqtt url {0:?}: expected mqtt://host:port or mqtts://host:port")]
pub struct BadBrokerUrl(pub String);

impl BrokerUrl {
    /// Parses `mqtt[s]://host[:port]`.
    pub fn parse(url: &str) -> Result<Self, BadBrokerUrl> {
        let bad = || BadBrokerUrl(url.into());
        let (tls, rest) = if let Some(r) = url.strip_prefix("mqtts://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("mqtt://") {
            (false, r)
        } else {
            return Err(bad());
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().map_err(|_| bad())?),
            None => (rest, if tls { 8883 } else { 1883 }),
        };
        if host.is_empty() {
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
    }
}
