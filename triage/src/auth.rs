//! Bearer tokens with roles. A tokens file holds one `role:token` a line (`#` comments);
//! roles are `viewer` (reads), `operator` (moves tickets, files reports) and `admin`
//! (everything). Tokens are compared in constant time and never logged.

use std::path::Path;

/// What a token may do, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Reads.
    Viewer,
    /// Reads and changes tickets.
    Operator,
    /// Everything.
    Admin,
}

impl Role {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(Self::Viewer),
            "operator" => Some(Self::Operator),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }
}

/// The known tokens.
#[derive(Clone, Default)]
pub struct Tokens {
    entries: Vec<(Role, String)>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the tokens themselves.
        f.debug_struct("Tokens")
            .field("count", &self.entries.len())
            .finish()
    }
}

/// A tokens file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokensError {
    /// Unreadable.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not `role:token`.
    #[error("{path}:{line}: expected `viewer|operator|admin:TOKEN` (16 characters or more)")]
    Line {
        /// The file.
        path: String,
        /// Line number from 1.
        line: usize,
    },
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Tokens {
    /// Reads a tokens file.
    pub fn load(path: &Path) -> Result<Self, TokensError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokensError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|line| TokensError::Line {
            path: path.display().to_string(),
            line,
        })
    }

    /// Reads `role:token` lines; `Err` gives the first bad line's number.
    pub fn parse(text: &str) -> Result<Self, usize> {
        let mut entries = Vec::new();
        for (k, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (role, token) = line.split_once(':').ok_or(k + 1)?;
            let role = Role::parse(role.trim()).ok_or(k + 1)?;
            let token = token.trim();
            if token.len() < 16 {
                return Err(k + 1);
            }
            entries.push((role, token.to_string()));
        }
        Ok(Self { entries })
    }

    /// The role of an `Authorization` header's bearer token (or a bare token), if known.
    pub fn role(&self, presented: Option<&str>) -> Option<Role> {
        let p = presented?.trim();
        let p = p.strip_prefix("Bearer ").unwrap_or(p).trim();
        self.entries
            .iter()
            .filter(|(_, t)| same(t.as_bytes(), p.as_bytes()))
            .map(|(r, _)| *r)
            .max()
    }

    /// Whether any token is configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_come_from_the_file_and_bad_lines_are_named() {
        let t = Tokens::parse(
            "# who may do what\nviewer:vvvvvvvvvvvvvvvvvvvv\noperator:oooooooooooooooooooo\n",
        )
        .unwrap();
        assert_eq!(
            t.role(Some("Bearer vvvvvvvvvvvvvvvvvvvv")),
            Some(Role::Viewer)
        );
        assert_eq!(t.role(Some("oooooooooooooooooooo")), Some(Role::Operator));
        assert_eq!(t.role(Some("Bearer nope")), None);
        assert_eq!(t.role(None), None);
        assert!(Role::Admin > Role::Operator && Role::Operator > Role::Viewer);
        assert_eq!(Tokens::parse("viewer:x\n").unwrap_err(), 1);
        assert_eq!(Tokens::parse("\nroot:aaaaaaaaaaaaaaaaaaaa").unwrap_err(), 2);
        assert!(!format!("{t:?}").contains("vvvv"), "tokens never show");
    }
}
