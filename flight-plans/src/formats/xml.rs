//! A small element tree read with `quick-xml`, for the KMZ reader: names without their prefix
//! (the caller checks the namespace declarations), text unescaped, errors with line and
//! column, nesting bounded so that a hostile file cannot exhaust the stack.

use quick_xml::events::Event;

use super::FormatError;

/// Deepest nesting read.
pub const MAX_DEPTH: usize = 64;

/// An element.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Node {
    /// Its name without prefix (`executeHeight` for `wpml:executeHeight`).
    pub name: String,
    /// Its attributes, `(qualified name, value)`.
    pub attributes: Vec<(String, String)>,
    /// Its text (the concatenation of its text children), trimmed.
    pub text: String,
    /// Its child elements.
    pub children: Vec<Node>,
}

impl Node {
    /// The first child of that name.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child of that name.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
}

fn line_col(text: &str, offset: u64) -> (usize, usize) {
    let offset = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(text.len());
    let before = text.as_bytes().get(..offset).unwrap_or_default();
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
    (line, col)
}

/// Parses a document into its root element. `file` names it in errors.
pub fn parse(file: &str, bytes: &[u8]) -> Result<Node, FormatError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| FormatError::at(file, &format!("not UTF-8: {e}")))?;
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    let fail = |reader: &quick_xml::Reader<&[u8]>, message: String| {
        let (line, col) = line_col(text, reader.error_position().max(reader.buffer_position()));
        FormatError::at(&format!("{file} line {line}, column {col}"), &message)
    };
    loop {
        let event = match reader.read_event() {
            Ok(e) => e,
            Err(e) => {
                let (line, col) = line_col(text, reader.error_position());
                return Err(FormatError::at(
                    &format!("{file} line {line}, column {col}"),
                    &e.to_string(),
                ));
            }
        };
        match event {
            Event::Start(e) | Event::Empty(e) if stack.len() >= MAX_DEPTH => {
                let _ = e;
                return Err(fail(&reader, format!("nested deeper than {MAX_DEPTH}")));
            }
            Event::Start(ref e) | Event::Empty(ref e) => {
                let qname = e.name().as_ref().to_string();
                let name = match qname.split_once(':') {
                    Some((_, n)) => n.to_string(),
                    None => qname.clone(),
                };
                let mut attributes = Vec::new();
                for a in e.attributes() {
                    let a = a.map_err(|err| fail(&reader, err.to_string()))?;
                    let value = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|err| fail(&reader, err.to_string()))?
                        .into_owned();
                    attributes.push((a.key.as_ref().to_string(), value));
                }
                let node = Node {
                    name,
                    attributes,
                    ..Node::default()
                };
                if matches!(event, Event::Empty(_)) {
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(node),
                        None if root.is_none() => root = Some(node),
                        None => return Err(fail(&reader, "a second root element".into())),
                    }
                } else {
                    stack.push(node);
                }
            }
            Event::End(_) => {
                let Some(mut node) = stack.pop() else {
                    return Err(fail(&reader, "an end tag without a start".into()));
                };
                node.text = node.text.trim().to_string();
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None if root.is_none() => root = Some(node),
                    None => return Err(fail(&reader, "a second root element".into())),
                }
            }
            Event::Text(t) => {
                if let Some(n) = stack.last_mut() {
                    n.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let Some(n) = stack.last_mut() {
                    n.text.push_str(&t);
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => match &*r {
                        "amp" => "&".into(),
                        "lt" => "<".into(),
                        "gt" => ">".into(),
                        "quot" => "\"".into(),
                        "apos" => "'".into(),
                        other => {
                            return Err(fail(&reader, format!("unknown entity &{other};")));
                        }
                    },
                    Err(e) => return Err(fail(&reader, e.to_string())),
                };
                if let Some(n) = stack.last_mut() {
                    n.text.push_str(&resolved);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(fail(
            &reader,
            format!("<{}> is not closed", stack[stack.len() - 1].name),
        ));
    }
    root.ok_or_else(|| FormatError::at(file, "no root element"))
}
