//! The walls between packages hold: no package depends on itself through another's
//! dev-dependencies, the pure crates link no native library, and the topic grammar is spelled in
//! one module.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cargo(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("running cargo");
    assert!(
        out.status.success(),
        "cargo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The workspace's packages.
fn members() -> Vec<String> {
    let meta: serde_json::Value = serde_json::from_str(&cargo(&[
        "metadata",
        "--format-version",
        "1",
        "--no-deps",
        "--offline",
    ]))
    .expect("cargo metadata is JSON");
    meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|p| p["name"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn no_package_depends_on_itself_and_the_pure_crates_link_nothing_native() {
    let members = members();
    assert!(members.len() >= 10, "{members:?}");
    for p in &members {
        let tree = cargo(&[
            "tree",
            "-p",
            p,
            "-e",
            "normal,dev",
            "--prefix",
            "depth",
            "--offline",
        ]);
        let again = tree
            .lines()
            .filter(|l| {
                let rest = l.trim_start_matches(|c: char| c.is_ascii_digit());
                rest.len() < l.len() && !l.starts_with('0') && rest.starts_with(&format!("{p} v"))
            })
            .count();
        assert_eq!(again, 0, "{p} depends on itself:\n{tree}");
    }
    for pure in [
        "argus-analysis",
        "argus-core",
        "argus-flightplan",
        "argus-net",
        "argus-truth",
        "argus-testkit",
    ] {
        let tree = cargo(&["tree", "-p", pure, "-e", "normal", "--offline"]);
        // A crate named `ort` (not one ending in it, as `i_key_sort`), GStreamer, OpenCV.
        for native in [" ort v", "gstreamer", "opencv"] {
            assert!(!tree.contains(native), "{pure} links {native}:\n{tree}");
        }
    }
}

/// The product's Rust sources: no tests, benchmarks, vendored crates or build output, and
/// without their trailing `#[cfg(test)]` modules and comments.
fn product_code(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
    for e in std::fs::read_dir(dir).expect("reading a folder").flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if ![
                "target",
                "vendor",
                "tests",
                "benches",
                ".git",
                ".venv",
                "node_modules",
            ]
            .contains(&name.as_str())
            {
                product_code(&path, out);
            }
        } else if name.ends_with(".rs") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            let code: String = code
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            out.push((path, code));
        }
    }
}

#[test]
fn the_topic_grammar_is_spelled_in_one_module() {
    let mut files = Vec::new();
    product_code(&root(), &mut files);
    assert!(files.len() > 50, "{} files", files.len());
    let spelled: Vec<String> = files
        .iter()
        .filter(|(_, code)| {
            ["argus/v1/", "thing/product/", "sys/product/"]
                .iter()
                .any(|t| code.contains(t))
        })
        .map(|(p, _)| p.strip_prefix(root()).unwrap_or(p).display().to_string())
        .collect();
    assert_eq!(spelled, ["pipeline/core/src/topics.rs"]);
}
