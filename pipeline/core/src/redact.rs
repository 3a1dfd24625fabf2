//! Secrets never printed: URLs are shown with their password (and an RTSP camera's or a
//! broker's credentials) replaced, in logs, `Debug`, `Display` and `/health`.

/// `url` with the password of its user-info part replaced by `***`
/// (`postgres://argus:s3cret@db/argus` → `postgres://argus:***@db/argus`); a password given
/// as a `password=` query or key-value parameter is replaced too. Anything else is unchanged.
pub fn url(url: &str) -> String {
    let mut out = match url.split_once("://") {
        Some((scheme, rest)) => {
            // The authority ends at the first '/', '?' or '#'; its user info at the last '@'.
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let (authority, tail) = rest.split_at(end);
            match authority.rsplit_once('@') {
                Some((user_info, host)) => {
                    let user = user_info.split_once(':').map_or(user_info, |(u, _)| u);
                    let hidden = if user_info.contains(':') { ":***" } else { "" };
                    format!("{scheme}://{user}{hidden}@{host}{tail}")
                }
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    };
    // `postgres://…?password=x` and `host=… password=x` forms.
    for key in ["password=", "PASSWORD="] {
        let mut from = 0;
        while let Some(at) = out[from..].find(key) {
            let start = from + at + key.len();
            let end = out[start..]
                .find(['&', ' ', ';'])
                .map_or(out.len(), |e| start + e);
            out.replace_range(start..end, "***");
            from = start + 3;
        }
    }
    out
}

/// `text` (an error message, a log line) with the password of every URL in it hidden, as
/// [`url`] hides one.
pub fn text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let start = at + 3;
        // The authority: up to the first '/', whitespace, quote or closing bracket.
        let end = rest[start..]
            .find(|c: char| c == '/' || c.is_whitespace() || "\"'<>)]}".contains(c))
            .map_or(rest.len(), |e| start + e);
        let authority = &rest[start..end];
        out.push_str(&rest[..start]);
        match authority.rsplit_once('@') {
            Some((user_info, host)) if user_info.contains(':') => {
                let user = user_info.split_once(':').map_or(user_info, |(u, _)| u);
                out.push_str(&format!("{user}:***@{host}"));
            }
            _ => out.push_str(authority),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_and_everything_else_is_kept() {
        assert_eq!(
            url("postgres://argus:s3cret@127.0.0.1:5432/argus"),
            "postgres://argus:***@127.0.0.1:5432/argus"
        );
        assert_eq!(
            url("rtsp://admin:p@ss@10.0.0.5:554/stream?x=1"),
            "rtsp://admin:***@10.0.0.5:554/stream?x=1"
        );
        assert_eq!(
            url("postgres://argus@db/argus?password=s3cret&sslmode=disable"),
            "postgres://argus@db/argus?password=***&sslmode=disable"
        );
        assert_eq!(
            url("host=db password=s3cret user=a"),
            "host=db password=*** user=a"
        );
        for plain in [
            "sqlite:var/triage.db",
            "mqtt://127.0.0.1:1883",
            "rtsp://cam/s",
        ] {
            assert_eq!(url(plain), plain);
        }
    }
}
